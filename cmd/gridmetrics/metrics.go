package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// serveMetrics mounts /metrics: on an address of its own when metrics-addr
// is set (an admin port that need not be reachable from outside), else on
// the public app; behind metrics-token when that is set. Either keeps the
// service's internals from anyone who can reach the public port.
func (m *Main) serveMetrics(reg *prometheus.Registry) error {
	handlers := []fiber.Handler{}
	if m.Config.MetricsToken != "" {
		handlers = append(handlers, auth.StaticToken(m.Config.MetricsToken))
	}
	handlers = append(handlers, adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	if m.Config.MetricsAddr == "" {
		m.app.Get("/metrics", handlers...)
		return nil
	}
	app := api.New(m.Config.apiConfig(m.Log))
	app.Get("/metrics", handlers...)
	ln, err := net.Listen("tcp", m.Config.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen on metrics-addr %s: %w", m.Config.MetricsAddr, err)
	}
	m.metricsApp, m.metricsLn, m.metricsDone = app, ln, make(chan struct{})
	go func() {
		defer close(m.metricsDone)
		if err := app.Listener(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			m.Log.Error("metrics server stopped", "err", err)
		}
	}()
	m.Log.Info("serving metrics", "addr", ln.Addr().String())
	return nil
}

// MetricsAddr is the address /metrics is served on when metrics-addr is
// set, and "" otherwise.
func (m *Main) MetricsAddr() string {
	if m.metricsLn == nil {
		return ""
	}
	return m.metricsLn.Addr().String()
}

// closeMetrics stops the metrics server, if it has its own address.
func (m *Main) closeMetrics() error {
	if m.metricsApp == nil {
		return nil
	}
	if err := m.metricsApp.ShutdownWithTimeout(m.Config.ShutdownTimeout); err != nil {
		// Not serving yet: closing the listener makes Listener return.
		_ = m.metricsLn.Close()
	}
	<-m.metricsDone
	return nil
}
