# Production image of gridmetrics: a static binary on distroless, running as
# the non-root user 65532. `serve` applies the embedded migrations at start-up.
#
#   docker build -t gridmetrics .
#   docker compose up          (see docker-compose.yml)

# ---- build ------------------------------------------------------------------
FROM golang:1.26-bookworm AS build
WORKDIR /src

# Module downloads get their own layer: it is rebuilt only when go.mod or
# go.sum change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/gridmetrics ./cmd/gridmetrics

# ---- run --------------------------------------------------------------------
# distroless/static carries CA certificates and /usr/share/zoneinfo (IANA
# time zones for sources and tariffs), and no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gridmetrics /gridmetrics
USER 65532:65532
ENV GRIDMETRICS_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/gridmetrics"]
CMD ["serve"]
