package sessions

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/recovery"
)

// The pricing worker prices completed sessions. Several may run (one per
// replica): each claims a batch of completed sessions with SELECT … FOR
// UPDATE SKIP LOCKED and a lease (Store.claim), prices them outside any
// transaction, and stores each result only if the session is still at the
// version it priced (Store.storePricing) — a session that changed meanwhile
// (a late OCPP event) is left for the next round. It wakes when this
// process completes a session and polls for the rest.

// Wake tells the pricing worker there is a completed session.
func (svc *Service) Wake() {
	select {
	case svc.wake <- struct{}{}:
	default:
	}
}

// StartWorker starts the pricing worker in the background; StopWorker
// stops it.
func (svc *Service) StartWorker() {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if svc.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc.cancel, svc.stopped = cancel, make(chan struct{})
	go func() {
		defer close(svc.stopped)
		svc.runWorker(ctx)
	}()
}

// StopWorker stops the pricing worker and waits for it, at most until ctx
// is done. Sessions it claimed and did not finish are priced by another
// worker once their lease runs out.
func (svc *Service) StopWorker(ctx context.Context) {
	svc.mu.Lock()
	cancel, stopped := svc.cancel, svc.stopped
	svc.cancel = nil
	svc.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case <-stopped:
	case <-ctx.Done():
	}
}

func (svc *Service) runWorker(ctx context.Context) {
	tick := time.NewTicker(svc.cfg.PollInterval)
	defer tick.Stop()
	for {
		// A panic outside a session's pricing (claiming a batch) ends this
		// round only; the worker goes on with the next.
		var n int
		err := recovery.Call(svc.cfg.Logger, "session_worker", func() error {
			var err error
			n, err = svc.PricePending(ctx)
			return err
		})
		if err != nil && ctx.Err() == nil {
			svc.cfg.Logger.Error("pricing sessions", "err", err)
		}
		if n > 0 && err == nil {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
			return
		case <-svc.wake:
		case <-tick.C:
		}
	}
}

// PricePending prices one batch of completed sessions and returns how many
// it claimed. The worker calls it; tests and tools may too.
func (svc *Service) PricePending(ctx context.Context) (int, error) {
	batch, err := svc.store.claim(ctx, svc.cfg.Batch, svc.cfg.Lease)
	if err != nil {
		return 0, err
	}
	// Pricing a session is a dozen short round trips to the database: a
	// few at once keep both the service and the database busy.
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, svc.cfg.Concurrency)
	)
	for _, c := range batch {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := recovery.Call(svc.cfg.Logger, "session_pricing", func() error { return svc.priceClaimed(ctx, c) },
				"session_id", c.id, "tenant_id", c.tenantID)
			if err != nil {
				// The claim stays: the session is retried when its lease
				// runs out, up to MaxPricingAttempts (a shutdown is no
				// failed attempt, and neither is a database that cannot be
				// reached: the session is not at fault, and quarantining every
				// session an outage touched would fail them all).
				if ctx.Err() == nil && api.Unavailable(err) == nil {
					err = errors.Join(err, svc.countFailure(ctx, c, err))
				}
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return len(batch), errors.Join(errs...)
}

func (svc *Service) priceClaimed(ctx context.Context, c claimed) error {
	s, err := svc.store.getByID(ctx, c.id)
	if err != nil {
		return err
	}
	if s.Version != c.version || s.Status != StatusCompleted || s.StopTime == nil {
		return nil // changed since the claim; whatever changed it re-queued it if needed
	}
	p, err := svc.compute(ctx, &s, *s.StopTime)
	if err != nil {
		return err
	}
	_, err = svc.store.storePricing(ctx, c.tenantID, c.id, c.version, p)
	if errors.Is(err, errStale) {
		return nil
	}
	return err
}

// countFailure counts a failed attempt to price a claimed session and
// quarantines the session after MaxPricingAttempts, so poison work (a
// session whose pricing panics, or keeps failing) is not retried forever
// by every replica. The session's failure reason says what happened in
// words safe to show its tenant; the error itself is logged and kept in
// pricing_error for operators.
func (svc *Service) countFailure(ctx context.Context, c claimed, cause error) error {
	what := "an internal error"
	var pe *recovery.PanicError
	if errors.As(cause, &pe) {
		what = "an internal error (a panic)"
	}
	attempts, quarantined, err := svc.store.pricingFailed(ctx, c.tenantID, c.id, c.version, truncate(cause.Error(), 2000),
		svc.cfg.MaxPricingAttempts, func(n int) string {
			times := "times"
			if n == 1 {
				times = "time"
			}
			return fmt.Sprintf("pricing failed %d %s: the last attempt ended with %s, logged by the service; reprice the session once the cause is fixed", n, times, what)
		})
	if err != nil {
		return err
	}
	svc.cfg.Logger.Warn("pricing a session failed", "session_id", c.id, "tenant_id", c.tenantID,
		"attempts", attempts, "max_attempts", svc.cfg.MaxPricingAttempts, "quarantined", quarantined, "err", cause)
	return nil
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
