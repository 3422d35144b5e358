package sessions

import (
	"context"
	"fmt"
	"time"

	"github.com/govalues/decimal"
	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/internal/pgbinary"
)

// The pricing worker's batch statements: the claimed sessions read in one,
// and a tenant's results written in one, under the same checks as
// storePricing.

// getByIDs reads sessions by internal id, in full, in one statement;
// sessions that no longer exist are left out.
func (st *Store) getByIDs(ctx context.Context, ids []int64) ([]Session, error) {
	rows, err := st.db.Query(ctx, `SELECT `+fullColumns+fromSessions+` WHERE s.id = ANY($1) ORDER BY s.id`, ids)
	if err != nil {
		return nil, fmt.Errorf("read %d sessions: %w", len(ids), err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Session, error) { return scanSession(r, true) })
	if err != nil {
		return nil, fmt.Errorf("read %d sessions: %w", len(ids), err)
	}
	return list, nil
}

// pricingResult is the pricing of a claimed session, computed from the
// session as read at its version (cur).
type pricingResult struct {
	id, version int64
	cur         *Session
	p           Pricing
}

// storePricings stores the pricings of one tenant's sessions as
// storePricing stores each — on a session still at the version it was
// priced at, as a new version with its own change_seq and updated_at,
// unless it changes nothing, in which case only the claim is released —
// but in one transaction under the tenant's session lock, with the stamps
// drawn in one statement and the results written in one UPDATE from
// arrays. No row is read or locked first: what storePricing reads under
// the lock (the price count, the stored result) is what the session held
// at the version it was priced at, and the UPDATE's condition on that
// version leaves out every session that changed since (no other writer of
// the tenant's sessions runs while the lock is held). errs[i] is errStale
// for a session that changed (it is left alone), or the error rendering
// its CDR; err is for the whole write failing.
func (st *Store) storePricings(ctx context.Context, tenantID int64, rs []pricingResult) (errs []error, err error) {
	err = st.write(ctx, tenantID, func(w *Tx) error {
		errs = make([]error, len(rs))
		stored := make(map[int64]bool, len(rs))
		collect := func(rows pgx.Rows, what string) error {
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return fmt.Errorf("%s: %w", what, err)
				}
				stored[id] = true
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		}
		var releaseIDs, releaseVersions []int64
		var changed []int
		for i, r := range rs {
			if r.cur.Version != r.version {
				errs[i] = errStale
			} else if r.p.same(r.cur) {
				releaseIDs, releaseVersions = append(releaseIDs, r.id), append(releaseVersions, r.version)
			} else {
				changed = append(changed, i)
			}
		}
		if len(releaseIDs) > 0 {
			rows, err := w.tx.Query(ctx, `UPDATE sessions s SET claimed_until = NULL, pricing_attempts = 0, pricing_error = ''
				FROM unnest($1::bigint[], $2::bigint[]) AS u(id, version) WHERE s.id = u.id AND s.change_seq = u.version
				RETURNING s.id`, releaseIDs, releaseVersions)
			if err != nil {
				return fmt.Errorf("release %d priced sessions: %w", len(releaseIDs), err)
			}
			if err := collect(rows, "release priced sessions"); err != nil {
				return err
			}
		}
		var us []pricingRow
		if len(changed) > 0 {
			seqs, ats, err := w.stamps(ctx, len(changed))
			if err != nil {
				return err
			}
			for k, i := range changed {
				r := &rs[i]
				u := pricingRow{r: r, at: ats[k], seq: seqs[k], count: int32(r.cur.PriceCount)}
				if r.p.Status == StatusPriced {
					u.count++
					if u.cdr, err = r.p.CDR(u.at, int(u.count)); err != nil {
						errs[i] = fmt.Errorf("render the CDR of session %s: %w", r.cur.PublicID, err)
						continue
					}
					u.pricedAt = &ats[k]
				}
				us = append(us, u)
			}
		}
		if len(us) > 0 {
			res := w.tx.Conn().PgConn().ExecParams(ctx, storePricingsSQL, pricingParams(us), pricingParamOIDs, binaryFormats[:len(pricingParamOIDs)], binaryFormats[:1]).Read()
			if res.Err != nil {
				return fmt.Errorf("store the prices of %d sessions: %w", len(us), res.Err)
			}
			for _, row := range res.Rows {
				id, err := pgbinary.Int8(row[0])
				if err != nil {
					return fmt.Errorf("store the prices of sessions: %w", err)
				}
				stored[id] = true
			}
		}
		for i, r := range rs {
			if errs[i] == nil && !stored[r.id] {
				errs[i] = errStale
			}
		}
		return nil
	})
	return errs, err
}

// storePricingsSQL writes a tenant's results from arrays, one element per
// session (pricingParams), where the session is still at the version
// priced.
const storePricingsSQL = `UPDATE sessions s SET status = u.status, failure_reason = u.failure_reason, tariff_ref = u.tariff_ref,
		currency = u.currency, energy_kwh = u.energy_kwh::numeric, charging_hours = u.charging_hours::numeric,
		parking_hours = u.parking_hours::numeric, total_excl_vat = u.total_excl_vat::numeric,
		total_incl_vat = u.total_incl_vat::numeric, price = u.price::json, cdr = u.cdr::json, price_count = u.price_count,
		priced_at = u.priced_at, claimed_until = NULL, pricing_attempts = 0, pricing_error = '',
		updated_at = u.updated_at, change_seq = u.change_seq
	FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
		$10::text[], $11::text[], $12::text[], $13::text[], $14::int[], $15::timestamptz[], $16::timestamptz[], $17::bigint[])
		AS u(id, version, status, failure_reason, tariff_ref, currency, energy_kwh, charging_hours, parking_hours,
			total_excl_vat, total_incl_vat, price, cdr, price_count, priced_at, updated_at, change_seq)
	WHERE s.id = u.id AND s.change_seq = u.version
	RETURNING s.id`

// The types of storePricingsSQL's parameters: bigint[], text[], int[] and
// timestamptz[].
var pricingParamOIDs = func() []uint32 {
	const int8s, texts, int4s, stamps = pgbinary.OIDInt8Array, pgbinary.OIDTextArray, pgbinary.OIDInt4Array, pgbinary.OIDTimestamptzArray
	return []uint32{int8s, int8s, texts, texts, texts, texts, texts, texts, texts, texts, texts, texts, texts, int4s, stamps, stamps, int8s}
}()

// binaryFormats are format codes for parameters or results, all binary.
var binaryFormats = []int16{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}

// pricingRow is one session's result as storePricingsSQL writes it.
type pricingRow struct {
	r        *pricingResult
	cdr      []byte // nil unless priced
	count    int32
	pricedAt *time.Time
	at       time.Time
	seq      int64
}

// pricingParams encodes storePricingsSQL's parameters, a binary array each,
// into one buffer sized for them all: a batch's prices and CDRs are
// megabytes, which pgx's encoding would copy over and over as its buffer
// grows.
func pricingParams(us []pricingRow) [][]byte {
	size := 20 * len(pricingParamOIDs)
	for _, u := range us {
		p := &u.r.p
		size += 17*4 + 5*8 + 4 + 5*24 + len(p.Status) + len(p.FailureReason) + len(p.TariffRef) + len(p.Currency) + len(p.Price) + len(u.cdr)
	}
	buf := make([]byte, 0, size)
	params := make([][]byte, 0, len(pricingParamOIDs))
	column := func(elem uint32, each func(w *pgbinary.ArrayWriter, u *pricingRow)) {
		w := pgbinary.NewArrayWriter(buf, elem)
		for i := range us {
			each(&w, &us[i])
		}
		var array []byte
		buf, array = w.Finish()
		params = append(params, array)
	}
	text := func(w *pgbinary.ArrayWriter, b []byte) {
		if b == nil {
			w.Null()
			return
		}
		w.Text(b)
	}
	dec := func(w *pgbinary.ArrayWriter, d decimal.NullDecimal) {
		if !d.Valid {
			w.Null()
			return
		}
		w.AppendText(func(b []byte) []byte {
			b, _ = d.Decimal.AppendText(b) // never fails
			return b
		})
	}
	const int8s, texts, int4s, stamps = pgbinary.OIDInt8, pgbinary.OIDText, pgbinary.OIDInt4, pgbinary.OIDTimestamptz
	column(int8s, func(w *pgbinary.ArrayWriter, u *pricingRow) { w.Int8(u.r.id) })
	column(int8s, func(w *pgbinary.ArrayWriter, u *pricingRow) { w.Int8(u.r.version) })
	column(texts, func(w *pgbinary.ArrayWriter, u *pricingRow) { w.String(string(u.r.p.Status)) })
	column(texts, func(w *pgbinary.ArrayWriter, u *pricingRow) { w.String(u.r.p.FailureReason) })
	column(texts, func(w *pgbinary.ArrayWriter, u *pricingRow) { w.String(u.r.p.TariffRef) })
	column(texts, func(w *pgbinary.ArrayWriter, u *pricingRow) { w.String(u.r.p.Currency) })
	column(texts, func(w *pgbinary.ArrayWriter, u *pricingRow) { dec(w, u.r.p.EnergyKWh) })
	column(texts, func(w *pgbinary.ArrayWriter, u *pricingRow) { dec(w, u.r.p.ChargingHours) })
	column(texts, func(w *pgbinary.ArrayWriter, u *pricingRow) { dec(w, u.r.p.ParkingHours) })
	column(texts, func(w *pgbinary.ArrayWriter, u *pricingRow) { dec(w, u.r.p.TotalExclVAT) })
	column(texts, func(w *pgbinary.ArrayWriter, u *pricingRow) { dec(w, u.r.p.TotalInclVAT) })
	column(texts, func(w *pgbinary.ArrayWriter, u *pricingRow) { text(w, u.r.p.Price) })
	column(texts, func(w *pgbinary.ArrayWriter, u *pricingRow) { text(w, u.cdr) })
	column(int4s, func(w *pgbinary.ArrayWriter, u *pricingRow) { w.Int4(u.count) })
	column(stamps, func(w *pgbinary.ArrayWriter, u *pricingRow) {
		if u.pricedAt == nil {
			w.Null()
			return
		}
		w.Timestamptz(*u.pricedAt)
	})
	column(stamps, func(w *pgbinary.ArrayWriter, u *pricingRow) { w.Timestamptz(u.at) })
	column(int8s, func(w *pgbinary.ArrayWriter, u *pricingRow) { w.Int8(u.seq) })
	return params
}
