package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
)

// HTTPLimits are the HTTP server's limits: a body limit per class of
// routes, connections and timeouts. Config.BodyLimit caps every body
// limit; routes outside the classes (sources) take otherBody at most.
type HTTPLimits struct {
	// Body limits in bytes, after decompression, per route class.
	IngestBody   int // POST /v1/readings; default 16 MiB
	OCPPBody     int // /v1/ocpp/…; default 1 MiB
	TariffsBody  int // /v1/tariffs…, /v1/pricing/… (tariffs, CDRs); default 1 MiB
	SessionsBody int // /v1/sessions…; default 256 KiB

	MaxConns           int           // open client connections; default 4096
	ReadHeaderTimeout  time.Duration // new connection or request start to end of headers; default 10s
	ReadTimeout        time.Duration // reading a body after its headers; default 60s
	WriteTimeout       time.Duration // writing a response that is not streamed; default 60s
	StreamWriteTimeout time.Duration // each write of a streamed answer; default 60s
	RequestTimeout     time.Duration // deadline of a request's work; default 60s
	IdleTimeout        time.Duration // idle keep-alive connection; default 120s
}

// bind registers the limits; those of the app itself (connections,
// timeouts) take their defaults from api.Config's WithDefaults.
func (h *HTTPLimits) bind(b *binder, bodyLimit *int) {
	app := api.Config{}.WithDefaults()
	b.int(bodyLimit, "body-limit", 16<<20, "largest request body of any route in bytes, after decompression: caps the class limits below; other routes (sources) take 256 KiB at most")
	b.int(&h.IngestBody, "body-limit-ingest", 16<<20, "largest body of POST /v1/readings in bytes, after decompression")
	b.int(&h.OCPPBody, "body-limit-ocpp", 1<<20, "largest body of the /v1/ocpp routes in bytes, after decompression")
	b.int(&h.TariffsBody, "body-limit-tariffs", 1<<20, "largest body of the tariff and pricing (CDR) routes in bytes, after decompression")
	b.int(&h.SessionsBody, "body-limit-sessions", 256<<10, "largest body of the /v1/sessions routes in bytes, after decompression")
	b.int(&h.MaxConns, "max-conns", app.MaxConns, "largest number of open client connections; more get 503")
	b.duration(&h.ReadHeaderTimeout, "read-header-timeout", app.ReadHeaderTimeout, "time a client has to send a request's headers (from connecting or from the request's first byte)")
	b.duration(&h.ReadTimeout, "read-timeout", app.ReadTimeout, "time a client has to send a request body once its headers are in")
	b.duration(&h.WriteTimeout, "write-timeout", app.WriteTimeout, "time to write a response that is not streamed")
	b.duration(&h.StreamWriteTimeout, "stream-write-timeout", app.StreamWriteTimeout, "time each write of a streamed answer (CSV, Arrow, export) may take; a stream lasts while the client reads")
	b.duration(&h.RequestTimeout, "request-timeout", app.RequestTimeout, "deadline of a request's work (and of a streamed query's database read)")
	b.duration(&h.IdleTimeout, "idle-timeout", app.IdleTimeout, "how long an idle keep-alive connection stays open")
}

func (h HTTPLimits) validate(bodyLimit int) []error {
	var errs []error
	for name, v := range map[string]int{"body-limit": bodyLimit, "body-limit-ingest": h.IngestBody, "body-limit-ocpp": h.OCPPBody,
		"body-limit-tariffs": h.TariffsBody, "body-limit-sessions": h.SessionsBody, "max-conns": h.MaxConns} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s: must be positive", name))
		}
	}
	for name, d := range map[string]time.Duration{"read-header-timeout": h.ReadHeaderTimeout, "read-timeout": h.ReadTimeout,
		"write-timeout": h.WriteTimeout, "stream-write-timeout": h.StreamWriteTimeout, "request-timeout": h.RequestTimeout, "idle-timeout": h.IdleTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive", name))
		}
	}
	if len(errs) > 0 {
		return []error{errors.Join(errs...)}
	}
	return nil
}

// otherBody is the body limit of routes outside the classes: small JSON
// objects (sources).
const otherBody = 256 << 10

// apiConfig maps the limits onto the HTTP app; the route classes are path
// prefixes under /v1, each limit capped by bodyLimit.
func (h HTTPLimits) apiConfig(bodyLimit int, log *slog.Logger) api.Config {
	return api.Config{
		BodyLimit: min(otherBody, bodyLimit),
		BodyLimits: []api.BodyLimit{
			{Prefix: "/v1/readings", Limit: min(h.IngestBody, bodyLimit)},
			{Prefix: "/v1/ocpp/", Limit: min(h.OCPPBody, bodyLimit)},
			{Prefix: "/v1/tariffs", Limit: min(h.TariffsBody, bodyLimit)},
			{Prefix: "/v1/pricing/", Limit: min(h.TariffsBody, bodyLimit)},
			{Prefix: "/v1/sessions", Limit: min(h.SessionsBody, bodyLimit)},
		},
		MaxConns:           h.MaxConns,
		ReadHeaderTimeout:  h.ReadHeaderTimeout,
		ReadTimeout:        h.ReadTimeout,
		WriteTimeout:       h.WriteTimeout,
		StreamWriteTimeout: h.StreamWriteTimeout,
		RequestTimeout:     h.RequestTimeout,
		IdleTimeout:        h.IdleTimeout,
		Logger:             log,
	}
}
