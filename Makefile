# Gridmetrics — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/gridmetrics
ADDR ?= 127.0.0.1:8080

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} {printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: console ## build the console, then bin/gridmetrics (which embeds it)
	$(GO) build -o $(BIN) ./cmd/gridmetrics

# The console and API reference (console/web, Vite) build into console/dist,
# which the binary embeds. npm ci runs only when node_modules is missing or
# older than package-lock.json; the Vite build only when a source changed.
CONSOLE_WEB := console/web
CONSOLE_SRC := $(shell find $(CONSOLE_WEB) -path $(CONSOLE_WEB)/node_modules -prune -o -type f -print 2>/dev/null)
.PHONY: console
console: console/dist/index.html ## build the web console and API reference (npm) into console/dist

$(CONSOLE_WEB)/node_modules/.package-lock.json: $(CONSOLE_WEB)/package-lock.json
	cd $(CONSOLE_WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

console/dist/index.html: $(CONSOLE_WEB)/node_modules/.package-lock.json $(CONSOLE_SRC)
	cd $(CONSOLE_WEB) && npm run --silent build

.PHONY: db
db: ## start (or reuse) the private PostgreSQL cluster in .data/pg
	@scripts/pg.sh dev

.PHONY: run
run: build ## start the database and, when mosquitto is installed, the MQTT broker; prepare the demo tenant and key, serve on 127.0.0.1:8080
	@url=$$(scripts/pg.sh dev) && \
	GRIDMETRICS_DATABASE_URL=$$url $(BIN) demo --env-file .data/demo.env --url http://$(ADDR) && \
	if [ -z "$${GRIDMETRICS_MQTT_URL:-}" ] && mqtt=$$(scripts/mosquitto.sh dev); then export GRIDMETRICS_MQTT_URL=$$mqtt; fi && \
	exec env GRIDMETRICS_DATABASE_URL=$$url GRIDMETRICS_ADDR=$(ADDR) $(BIN) serve

.PHONY: test
test: test-postgres test-timescale test-fuzz ## the whole suite: on PostgreSQL, then the stores on TimescaleDB, then every fuzz target briefly

.PHONY: test-postgres
test-postgres: console ## every package against the private PostgreSQL test cluster (and private mosquitto brokers, HAProxy in front of the replica tests, NATS clusters for the ingest log, and chromium for the console's browser tests)
	@scripts/mosquitto.sh install && \
	scripts/haproxy.sh install && \
	scripts/nats.sh install && \
	scripts/chromium.sh install && \
	url=$$(scripts/pg.sh test) && \
	GRIDMETRICS_TEST_DATABASE_URL=$$url $(GO) test -count=1 -race -timeout 20m ./...

.PHONY: test-timescale
test-timescale: ## schema, store, ingest and rollup tests against TimescaleDB (WASM build, Node harness)
	@scripts/test-timescale.sh

# Fuzz targets are found by their declarations, without building every
# package's tests to list them; each package's fuzzing binary is built once
# for all its targets. A failure is minimised for at most FUZZMINIMIZETIME,
# so that a bounded run stays bounded; the failing input is written to the
# package's testdata/fuzz, as go test -fuzz does. A failure without such an
# input (Go's fuzzer reports "context deadline exceeded" when a worker is
# slow to stop, seen twice in a row on a quiet machine too) is not a
# finding: that target runs again, up to three times in all, and fails the
# run if every try fails.
FUZZTIME ?= 10s
FUZZMINIMIZETIME ?= 10s
FUZZ_CI_TIME ?= 7s
.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 10s) each
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cache=$$($(GO) env GOCACHE)/fuzz/$$($(GO) list -m); \
	for pkg in $$(grep -rl --include='*_test.go' --exclude-dir=.data --exclude-dir=node_modules '^func Fuzz' . | xargs -n1 dirname | sed 's|^\./||' | sort -u); do \
	  bin=$$tmp/$${pkg//\//_}.test; \
	  $(GO) test -c -fuzz . -o $$bin ./$$pkg; \
	  for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$pkg/*_test.go); do \
	    echo "== $$pkg $$target"; \
	    for try in 1 2 3; do \
	      if (cd $$pkg && $$bin -test.run '^$$' -test.fuzz "^$$target$$" -test.fuzztime $(FUZZTIME) \
	        -test.fuzzminimizetime $(FUZZMINIMIZETIME) -test.fuzzcachedir $$cache/$$pkg) > $$tmp/out 2>&1; then \
	        cat $$tmp/out; break; \
	      fi; \
	      cat $$tmp/out; \
	      if grep -q 'Failing input written' $$tmp/out || [ $$try = 3 ]; then exit 1; fi; \
	      echo "== $$pkg $$target: the fuzzer failed without a failing input (a worker outlived the deadline); again"; \
	    done; \
	  done; \
	done

.PHONY: test-fuzz
test-fuzz: ## every fuzz target for FUZZ_CI_TIME (default 7s) each, as make test runs them (8 targets: about 90 s)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZ_CI_TIME)

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

.PHONY: db-stop
db-stop: ## stop the private clusters and the development MQTT broker
	@scripts/pg.sh stop dev; scripts/pg.sh stop test; scripts/mosquitto.sh stop dev

.PHONY: clean
clean: db-stop ## stop the clusters and the broker, remove .data and bin (and, as root, the clusters .data links to)
	@for l in .data/pg .data/pgtest .data/scratch/*; do \
	  [ -L "$$l" ] || continue; t=$$(readlink -f "$$l"); \
	  case $$t in /var/lib/gridmetrics/*) rm -rf "$$t" ;; esac; \
	done
	rm -rf .data bin

BENCH_INGEST_FLAGS ?=
.PHONY: bench-ingest
bench-ingest: ## ingest over HTTP (JSON, Arrow) against raw pgx CopyFrom; flags: BENCH_INGEST_FLAGS="-rows 500000"
	$(GO) run ./bench/ingest $(BENCH_INGEST_FLAGS)

BENCH_QUERY_FLAGS ?=
.PHONY: bench-query
bench-query: ## dashboard queries from rollups against raw readings (43.2 M rows); flags: BENCH_QUERY_FLAGS="-keep -iterations 50"
	$(GO) run ./bench/query $(BENCH_QUERY_FLAGS)

.PHONY: bench-pricing
bench-pricing: ## sessions priced per second per core (3-element time-of-use, 10 periods) and meter-months per second (15-minute dynamic)
	@$(GO) test -run '^$$' -bench 'BenchmarkPrice' -benchtime 2s ./tariffs/ | tee /dev/stderr | awk ' \
	  /BenchmarkPriceSession\/tou3\/10periods-/ { for (i = 1; i <= NF; i++) if ($$(i+1) == "sessions/s") one = $$i } \
	  /BenchmarkPriceSession\/tou3\/10periods\/parallel/ { for (i = 1; i <= NF; i++) if ($$(i+1) == "sessions/s") all = $$i } \
	  /BenchmarkPriceMeterMonth/ { for (i = 1; i <= NF; i++) if ($$(i+1) == "meter-months/s") mm = $$i } \
	  END { printf "sessions_per_s_core=%.0f sessions_per_s_all_cores=%.0f meter_months_per_s=%.0f\n", one, all, mm }'

BENCH_BILLING_FLAGS ?=
.PHONY: bench-billing
bench-billing: ## price 100,000 sessions from stored readings, export them (NDJSON, Arrow) against a plain COPY; flags: BENCH_BILLING_FLAGS="-sessions 5000 -keep"
	$(GO) run ./bench/billing $(BENCH_BILLING_FLAGS)

BENCH_OCPP_FLAGS ?=
.PHONY: bench-ocpp
bench-ocpp: ## 10,000 OCPP-J charge points sending MeterValues every 10 s against the same readings as HTTP requests; flags: BENCH_OCPP_FLAGS="-conns 500 -duration 20s"
	$(GO) run ./bench/ocpp $(BENCH_OCPP_FLAGS)

BENCH_STANDBY_FLAGS ?=
.PHONY: bench-standby
bench-standby: ## query p50/p99 on the primary against a streaming standby (read-database-url) while live ingest runs; flags: BENCH_STANDBY_FLAGS="-sources 20 -days 7 -iterations 300"
	$(GO) run ./bench/standby $(BENCH_STANDBY_FLAGS)

BENCH_INGESTLOG_FLAGS ?=
.PHONY: bench-ingestlog
bench-ingestlog: ## rows/s direct against through the durable ingest log (3-node NATS cluster, R3 stream), and the log's lag until queryable p50/p99; flags: BENCH_INGESTLOG_FLAGS="-rows 500000"
	@scripts/nats.sh install
	$(GO) run ./bench/ingestlog $(BENCH_INGESTLOG_FLAGS)

BENCH_SCALE_FLAGS ?=
.PHONY: bench-scale
bench-scale: ## the ingest log against direct ingest, then queries on the primary against a streaming standby while ingest runs, on one line (docs/scaling.md); flags: BENCH_SCALE_FLAGS="-log-rows 100000 -standby-iterations 50"
	@scripts/nats.sh install
	$(GO) run ./bench/scale $(BENCH_SCALE_FLAGS)

BENCH_MQTT_FLAGS ?=
.PHONY: bench-mqtt
bench-mqtt: ## rows/s publish→commit through a private mosquitto (value and readings presets) against HTTP ingest of the same rows, and p99 publish→commit; flags: BENCH_MQTT_FLAGS="-rows 100000 -runs 3 -profile-dir .data/prof"
	@scripts/mosquitto.sh install
	$(GO) run ./bench/mqtt $(BENCH_MQTT_FLAGS)
