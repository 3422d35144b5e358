package sessions

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/recovery"
)

// The pricing worker prices completed sessions. Several may run (one per
// replica): each claims a batch of completed sessions with SELECT … FOR
// UPDATE SKIP LOCKED and a lease (Store.claim), reads what pricing them
// needs in a few statements for the whole batch, prices them in memory
// outside any transaction, and stores each result only if the session is
// still at the version it priced (Store.storePricings, one write per
// tenant) — a session that changed meanwhile (a late OCPP event) is left
// for the next round. It wakes when this process completes a session and
// polls for the rest.

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
	// Several loops, so that one batch is priced in memory while another
	// waits for the database: each claims its own batch.
	var wg sync.WaitGroup
	for range svc.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc.runWorker(ctx)
		}()
	}
	go func() {
		wg.Wait()
		close(svc.stopped)
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
			if n == svc.cfg.Batch {
				svc.Wake() // a full batch: more are waiting, for an idle loop too
			}
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
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	var errs []error
	for i, err := range svc.priceBatch(ctx, batch) {
		if err == nil {
			continue
		}
		// The claim stays: the session is retried when its lease runs out,
		// up to MaxPricingAttempts (a shutdown is no failed attempt, and
		// neither is a database that cannot be reached: the session is not
		// at fault, and quarantining every session an outage touched would
		// fail them all).
		if ctx.Err() == nil && api.Unavailable(err) == nil {
			err = errors.Join(err, svc.countFailure(ctx, batch[i], err))
		}
		errs = append(errs, err)
	}
	return len(batch), errors.Join(errs...)
}

// priceBatch prices claimed sessions together and returns each one's
// error: a handful of statements for the whole batch rather than a dozen
// round trips per session. The claimed sessions are read in one statement,
// what pricing them needs in a few more (Service.loadInputs), they are
// priced in memory on every core (Service.price, as for one session), and
// each tenant's results are written in one transaction
// (Store.storePricings). A session that changed since its claim is left
// for the next round. When a batch statement fails for a reason other than
// an unreachable database, the batch is priced again one session at a
// time, so that only a session at fault fails.
//
// Where the time goes (make bench-billing with -profile-dir: 100,000
// sessions, 5,927/s): 0.10 ms of the server's CPU and 0.21 ms of
// PostgreSQL's a session. In the server, Service.price takes 37 %
// (BuildPeriods 17 %, the engine 9 %, the CDR as JSON 11 %), writing the
// results 19 %, reading the inputs 18 % (the readings 11 %), and the
// garbage collector much of the rest. In PostgreSQL (pg_stat_statements,
// one batch at a time), the readings probe takes 60 % (three index probes
// per session and series, and a heap fetch per sample, most pages read
// from the kernel's cache past a default shared_buffers), the results'
// UPDATE 26 % (a new row version with an entry in each index of sessions),
// the claim 6 %.
func (svc *Service) priceBatch(ctx context.Context, batch []claimed) []error {
	errs := make([]error, len(batch))
	fallback := func(err error) []error {
		if ctx.Err() != nil || api.Unavailable(err) != nil {
			for i := range errs {
				errs[i] = err
			}
			return errs
		}
		svc.cfg.Logger.Warn("pricing a batch of sessions failed; pricing them one at a time", "sessions", len(batch), "err", err)
		return svc.priceEach(ctx, batch)
	}
	ids := make([]int64, len(batch))
	for i, c := range batch {
		ids[i] = c.id
	}
	list, err := svc.store.getByIDs(ctx, ids)
	if err != nil {
		return fallback(err)
	}
	byID := make(map[int64]*Session, len(list))
	for i := range list {
		byID[list[i].ID] = &list[i]
	}
	// The claimed sessions still at their claimed version: the others
	// changed since the claim, and whatever changed them re-queued them if
	// needed.
	var todo []int // indexes into batch
	var ss []*Session
	var ends []time.Time
	for i, c := range batch {
		s := byID[c.id]
		if s == nil || s.Version != c.version || s.Status != StatusCompleted || s.StopTime == nil {
			continue
		}
		todo, ss, ends = append(todo, i), append(ss, s), append(ends, *s.StopTime)
	}
	if len(todo) == 0 {
		return errs
	}
	inputs, err := svc.loadInputs(ctx, ss, ends)
	if err != nil {
		return fallback(err)
	}

	// Pricing is pure computation from here: one goroutine per core.
	results := make([]pricingResult, len(todo))
	failed := make([]error, len(todo))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int(next.Add(1)) - 1; k < len(todo); k = int(next.Add(1)) - 1 {
				c := batch[todo[k]]
				failed[k] = recovery.Call(svc.cfg.Logger, "session_pricing", func() error {
					p, err := svc.price(ss[k], &inputs[k])
					results[k] = pricingResult{id: c.id, version: c.version, cur: ss[k], p: p}
					return err
				}, "session_id", c.id, "tenant_id", c.tenantID)
			}
		}()
	}
	wg.Wait()

	// Each tenant's results in one write, under that tenant's lock.
	byTenant := map[int64][]int{} // indexes into todo
	var tenants []int64
	for k, i := range todo {
		if failed[k] != nil {
			errs[i] = failed[k]
			continue
		}
		t := batch[i].tenantID
		if _, ok := byTenant[t]; !ok {
			tenants = append(tenants, t)
		}
		byTenant[t] = append(byTenant[t], k)
	}
	for _, t := range tenants {
		ks := byTenant[t]
		rs := make([]pricingResult, len(ks))
		for j, k := range ks {
			rs[j] = results[k]
		}
		stored, err := svc.store.storePricings(ctx, t, rs)
		if err != nil && (ctx.Err() != nil || api.Unavailable(err) != nil) {
			for _, k := range ks {
				errs[todo[k]] = err
			}
			continue
		}
		if err != nil {
			// One at a time, so that only a session at fault fails.
			svc.cfg.Logger.Warn("storing a batch of prices failed; storing them one at a time", "sessions", len(rs), "err", err)
			stored = make([]error, len(rs))
			for j, r := range rs {
				_, stored[j] = svc.store.storePricing(ctx, t, r.id, r.version, r.p)
			}
		}
		for j, k := range ks {
			switch {
			case stored[j] == nil && !rs[j].p.same(rs[j].cur):
				svc.cfg.Metrics.storedResult(rs[j].p.Status)
			case !errors.Is(stored[j], errStale):
				errs[todo[k]] = stored[j]
			}
		}
	}
	return errs
}

// priceEach prices claimed sessions one at a time, a few at once: the
// batch path's fallback.
func (svc *Service) priceEach(ctx context.Context, batch []claimed) []error {
	errs := make([]error, len(batch))
	var wg sync.WaitGroup
	sem := make(chan struct{}, svc.cfg.Concurrency)
	for i, c := range batch {
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = recovery.Call(svc.cfg.Logger, "session_pricing", func() error { return svc.priceClaimed(ctx, c) },
				"session_id", c.id, "tenant_id", c.tenantID)
		}()
	}
	wg.Wait()
	return errs
}

// priceClaimed prices one claimed session on its own.
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
	stored, err := svc.store.storePricing(ctx, c.tenantID, c.id, c.version, p)
	if errors.Is(err, errStale) {
		return nil
	}
	if err == nil && stored.Version != c.version {
		svc.cfg.Metrics.storedResult(p.Status)
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
