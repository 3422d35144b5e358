package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govalues/decimal"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/tariffs"
)

// pricedSession is a priced session as the engine benchmark needs it: its
// CDR as stored (its charging periods are what the engine prices), the
// tariff version it was priced with, and the stored total to check against.
type pricedSession struct {
	cdr    *tariffs.CDR
	tariff *tariffs.Tariff
	total  decimal.Decimal
}

// loadPriced reads the tenant's priced sessions and parses, once per
// version, the tariff versions they name (tariff_ref "tar_…@n"): all of it
// before any clock starts.
func loadPriced(ctx context.Context, pool *pgxpool.Pool, tenantID int64) ([]pricedSession, error) {
	rows, err := pool.Query(ctx, `SELECT s.cdr::text, s.total_incl_vat::text, s.tariff_ref FROM sessions s
		WHERE s.tenant_id = $1 AND s.status = 'priced' ORDER BY s.id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("read priced sessions: %w", err)
	}
	defer rows.Close()
	versions := map[string]*tariffs.Tariff{}
	var out []pricedSession
	for rows.Next() {
		var cdr, total, ref string
		if err := rows.Scan(&cdr, &total, &ref); err != nil {
			return nil, fmt.Errorf("read priced sessions: %w", err)
		}
		c, err := tariffs.ParseCDRLenient([]byte(cdr))
		if err != nil {
			return nil, fmt.Errorf("parse a stored CDR: %w", err)
		}
		t, ok := versions[ref]
		if !ok {
			if t, err = tariffVersion(ctx, pool, ref); err != nil {
				return nil, err
			}
			versions[ref] = t
		}
		d, err := decimal.Parse(total)
		if err != nil {
			return nil, err
		}
		out = append(out, pricedSession{cdr: c, tariff: t, total: d})
	}
	return out, rows.Err()
}

// tariffVersion reads and parses the tariff version ref ("tar_…@n") names.
func tariffVersion(ctx context.Context, pool *pgxpool.Pool, ref string) (*tariffs.Tariff, error) {
	id, n, ok := strings.Cut(ref, "@")
	if !ok {
		return nil, fmt.Errorf("tariff reference %q has no version", ref)
	}
	var doc string
	if err := pool.QueryRow(ctx, `SELECT v.document::text FROM tariff_versions v JOIN tariffs t ON t.id = v.tariff_id
		WHERE t.public_id = $1 AND v.version = $2::int`, id, n).Scan(&doc); err != nil {
		return nil, fmt.Errorf("read tariff %s: %w", ref, err)
	}
	return tariffs.ParseTariff([]byte(doc))
}

// engineRate prices every session with the pure engine — CDR.Reprice with
// its tariff version, the call the pricing worker makes once it has built
// a session's charging periods — on workers goroutines, and returns the
// sessions priced per second. Each result must equal the stored total, so
// the engine did the same work the server did.
func engineRate(ss []pricedSession, workers int) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var failure error
	began := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int(next.Add(1)) - 1; k < len(ss); k = int(next.Add(1)) - 1 {
				_, res, err := ss[k].cdr.Reprice(ss[k].tariff)
				if err == nil && res.Invoice.Total.InclVAT.Cmp(ss[k].total) != 0 {
					err = fmt.Errorf("session %s: the engine says %s, the server stored %s", ss[k].cdr.ID, res.Invoice.Total.InclVAT, ss[k].total)
				}
				if err != nil {
					once.Do(func() { failure = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if failure != nil {
		return 0, failure
	}
	return float64(len(ss)) / time.Since(began).Seconds(), nil
}
