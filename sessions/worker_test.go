package sessions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gridmetrics/gridmetrics/recovery"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// poisonTariffs is the fixture's tariff source, until poison is set: then
// finding a tariff panics or fails, as a bug or a broken dependency would.
type poisonTariffs struct {
	*fakeTariffs
	poison atomic.Int32 // 0 healthy, 1 panic, 2 error, 3 database unreachable
	calls  atomic.Int32
}

func (p *poisonTariffs) TariffAt(ctx context.Context, tenantID, sourceID int64, at time.Time) (*tariffs.Tariff, string, error) {
	p.calls.Add(1)
	switch p.poison.Load() {
	case 1:
		panic("tariff lookup blew up")
	case 2:
		return nil, "", errors.New("tariff service unreachable")
	case 3:
		return nil, "", fmt.Errorf("load tariff: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"})
	}
	return p.fakeTariffs.TariffAt(ctx, tenantID, sourceID, at)
}

// completedSession starts and stops a session on svc and returns its
// public id.
func (f *fixture) completedSession(svc *Service, externalID string) string {
	f.t.Helper()
	start := at(f.t, "UTC", "2024-03-04 10:00")
	s, _, err := svc.Start(f.ctx, f.tenant, NewSession{Source: "CB-1/1", ExternalID: externalID, StartTime: start, MeterStart: ptr(0)})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := svc.Stop(f.ctx, f.tenant, s.PublicID, StopSession{StopTime: start.Add(time.Hour), MeterStop: ptr(7000)}); err != nil {
		f.t.Fatal(err)
	}
	return s.PublicID
}

func (f *fixture) attempts(publicID string) (int, string) {
	f.t.Helper()
	var n int
	var cause string
	if err := f.pool.QueryRow(f.ctx, `SELECT pricing_attempts, pricing_error FROM sessions WHERE public_id = $1`, publicID).Scan(&n, &cause); err != nil {
		f.t.Fatal(err)
	}
	return n, cause
}

// TestPanickingPricingIsQuarantined runs the real worker on a session whose
// pricing panics: the process survives (a panic in the worker's goroutine
// would end the test binary), every panic is counted, and after
// MaxPricingAttempts the session is failed with the reason instead of being
// claimed forever. A reprice revives it. Not parallel: it counts panics.
func TestPanickingPricingIsQuarantined(t *testing.T) {
	f := newFixture(t)
	f.source("CB-1/1", "UTC")
	f.tariffs.set(testTariff(t, "UTC", `[{"price_components":[{"type":"ENERGY","price":0.30,"step_size":1}]}]`), "tar_x@1")
	pt := &poisonTariffs{fakeTariffs: f.tariffs}
	// One worker loop: with a lease this short, a second loop could claim
	// the session again while the first is still counting its failure.
	svc := NewService(f.pool, f.svc.resolver, f.svc.readings, pt,
		Config{PollInterval: 5 * time.Millisecond, Lease: 5 * time.Millisecond, MaxPricingAttempts: 3, Concurrency: 1})
	pt.poison.Store(1)
	id := f.completedSession(svc, "tx-panic")
	panics := testutil.ToFloat64(recovery.Panics.WithLabelValues("session_pricing"))

	svc.StartWorker()
	deadline := time.Now().Add(10 * time.Second)
	for f.get(id).Status != StatusFailed {
		if time.Now().After(deadline) {
			n, cause := f.attempts(id)
			t.Fatalf("not quarantined after 10 s: status %s, %d attempts, last %q", f.get(id).Status, n, cause)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Let the worker poll a few more times: a quarantined session is not
	// claimed again.
	calls := pt.calls.Load()
	time.Sleep(50 * time.Millisecond)
	svc.StopWorker(f.ctx)

	s := f.get(id)
	if !strings.HasPrefix(s.FailureReason, "pricing failed 3 times: ") || !strings.Contains(s.FailureReason, "panic") ||
		strings.Contains(s.FailureReason, "blew up") {
		t.Errorf("failure reason %q: want the attempts and what happened, not the panic's text", s.FailureReason)
	}
	if n, cause := f.attempts(id); n != 3 || !strings.Contains(cause, "tariff lookup blew up") {
		t.Errorf("attempts %d (want 3), pricing_error %q", n, cause)
	}
	if got := testutil.ToFloat64(recovery.Panics.WithLabelValues("session_pricing")) - panics; got != 3 {
		t.Errorf("%v panics counted, want 3", got)
	}
	if after := pt.calls.Load(); after != calls {
		t.Errorf("the quarantined session was priced %d more times", after-calls)
	}

	// Fixed: the reprice route's call revives the session and starts the
	// count afresh.
	pt.poison.Store(0)
	p, err := svc.Reprice(f.ctx, f.tenant, id)
	if err != nil || p.Status != StatusPriced || p.FailureReason != "" || p.Version <= s.Version {
		t.Fatalf("reprice of a quarantined session: %+v %v", p.Summary(), err)
	}
	wantDec(t, "total", p.TotalExclVAT, "2.10")
	if n, cause := f.attempts(id); n != 0 || cause != "" {
		t.Errorf("after the reprice: %d attempts, %q", n, cause)
	}
}

// TestFailingPricingIsQuarantined: an error worth retrying (the tariff
// source unreachable) is retried MaxPricingAttempts times, then the
// session is quarantined.
func TestFailingPricingIsQuarantined(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.source("CB-1/1", "UTC")
	pt := &poisonTariffs{fakeTariffs: f.tariffs}
	svc := NewService(f.pool, f.svc.resolver, f.svc.readings, pt, Config{Lease: time.Millisecond, MaxPricingAttempts: 2})
	pt.poison.Store(2)
	id := f.completedSession(svc, "tx-err")

	round := func() {
		t.Helper()
		time.Sleep(3 * time.Millisecond) // past the lease of the last round
		n, err := svc.PricePending(f.ctx)
		if n != 1 || err == nil || !strings.Contains(err.Error(), "tariff service unreachable") {
			t.Fatalf("round: %d claimed, err %v; want 1 and the error", n, err)
		}
	}
	round()
	if s := f.get(id); s.Status != StatusCompleted {
		t.Fatalf("after one failed attempt: %s", s.Status)
	}
	if n, _ := f.attempts(id); n != 1 {
		t.Fatalf("%d attempts counted, want 1", n)
	}
	round()
	s := f.get(id)
	if s.Status != StatusFailed || !strings.HasPrefix(s.FailureReason, "pricing failed 2 times: ") {
		t.Fatalf("after two failed attempts: %s %q", s.Status, s.FailureReason)
	}
	time.Sleep(3 * time.Millisecond)
	if n, err := svc.PricePending(f.ctx); n != 0 || err != nil {
		t.Fatalf("a quarantined session was claimed: %d, %v", n, err)
	}
}

// TestUnreachableDatabaseIsNoPricingFailure: a pricing attempt that fails
// because the database cannot be reached is retried, never counted against
// the session, so an outage quarantines nothing.
func TestUnreachableDatabaseIsNoPricingFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.source("CB-1/1", "UTC")
	pt := &poisonTariffs{fakeTariffs: f.tariffs}
	svc := NewService(f.pool, f.svc.resolver, f.svc.readings, pt, Config{Lease: time.Millisecond, MaxPricingAttempts: 2})
	f.tariffs.set(testTariff(t, "UTC", parkingTariff), "tar_p@1")
	pt.poison.Store(3)
	id := f.completedSession(svc, "tx-outage")
	for range 3 {
		time.Sleep(3 * time.Millisecond) // past the lease of the last round
		if n, err := svc.PricePending(f.ctx); n != 1 || err == nil {
			t.Fatalf("round during the outage: %d claimed, err %v; want 1 and the error", n, err)
		}
	}
	if s := f.get(id); s.Status != StatusCompleted {
		t.Fatalf("after an outage: %s %q, want completed", s.Status, s.FailureReason)
	}
	if n, _ := f.attempts(id); n != 0 {
		t.Fatalf("%d attempts counted during an outage, want 0", n)
	}
	pt.poison.Store(0)
	time.Sleep(3 * time.Millisecond)
	if n, err := svc.PricePending(f.ctx); n != 1 || err != nil {
		t.Fatalf("round after the outage: %d claimed, err %v", n, err)
	}
	if s := f.get(id); s.Status != StatusPriced {
		t.Fatalf("after the outage: %s %q, want priced", s.Status, s.FailureReason)
	}
}

// TestLifecycleChangeResetsPricingAttempts: a session changed by a late
// event is a new piece of work; the failures of its old version do not
// count against it.
func TestLifecycleChangeResetsPricingAttempts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.source("CB-1/1", "UTC")
	pt := &poisonTariffs{fakeTariffs: f.tariffs}
	svc := NewService(f.pool, f.svc.resolver, f.svc.readings, pt, Config{Lease: time.Millisecond, MaxPricingAttempts: 2})
	pt.poison.Store(2)
	id := f.completedSession(svc, "tx-reset")
	if _, err := svc.PricePending(f.ctx); err == nil {
		t.Fatal("pricing did not fail")
	}
	if n, _ := f.attempts(id); n != 1 {
		t.Fatalf("%d attempts counted, want 1", n)
	}
	err := svc.store.write(f.ctx, f.tenant, func(w *Tx) error {
		s, _, err := w.byPublicID(f.ctx, id)
		if err != nil {
			return err
		}
		s.StopReason = "Remote"
		return w.update(f.ctx, &s)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, cause := f.attempts(id); n != 0 || cause != "" {
		t.Fatalf("after a lifecycle change: %d attempts, %q", n, cause)
	}
}
