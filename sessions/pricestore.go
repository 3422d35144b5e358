package sessions

import (
	"context"
	"fmt"
	"time"

	"github.com/govalues/decimal"
	"github.com/jackc/pgx/v5"
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
		var u pricingRows
		if len(changed) > 0 {
			seqs, ats, err := w.stamps(ctx, len(changed))
			if err != nil {
				return err
			}
			for k, i := range changed {
				r := &rs[i]
				at, count := ats[k], r.cur.PriceCount
				var cdr []byte
				var pricedAt *time.Time
				if r.p.Status == StatusPriced {
					count++
					if cdr, err = r.p.CDR(at, count); err != nil {
						errs[i] = fmt.Errorf("render the CDR of session %s: %w", r.cur.PublicID, err)
						continue
					}
					pricedAt = &ats[k]
				}
				u.add(r, cdr, count, pricedAt, at, seqs[k])
			}
		}
		if len(u.id) > 0 {
			rows, err := w.tx.Query(ctx, `UPDATE sessions s SET status = u.status, failure_reason = u.failure_reason, tariff_ref = u.tariff_ref,
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
				RETURNING s.id`,
				u.id, u.version, u.status, u.failureReason, u.tariffRef, u.currency, u.energy, u.charging, u.parking,
				u.exclVAT, u.inclVAT, u.price, u.cdr, u.count, u.pricedAt, u.updatedAt, u.seq)
			if err != nil {
				return fmt.Errorf("store the prices of %d sessions: %w", len(u.id), err)
			}
			if err := collect(rows, "store the prices of sessions"); err != nil {
				return err
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

// pricingRows are the columns of storePricings' UPDATE, one array each.
type pricingRows struct {
	id, version, seq                                        []int64
	status, failureReason, tariffRef, currency              []string
	energy, charging, parking, exclVAT, inclVAT, price, cdr []*string
	count                                                   []int32
	pricedAt                                                []*time.Time
	updatedAt                                               []time.Time
}

func (u *pricingRows) add(r *pricingResult, cdr []byte, count int, pricedAt *time.Time, at time.Time, seq int64) {
	text := func(b []byte) *string {
		if b == nil {
			return nil
		}
		s := string(b)
		return &s
	}
	dec := func(d decimal.NullDecimal) *string {
		if !d.Valid {
			return nil
		}
		s := d.Decimal.String()
		return &s
	}
	p := &r.p
	u.id, u.version, u.seq = append(u.id, r.id), append(u.version, r.version), append(u.seq, seq)
	u.status, u.failureReason = append(u.status, string(p.Status)), append(u.failureReason, p.FailureReason)
	u.tariffRef, u.currency = append(u.tariffRef, p.TariffRef), append(u.currency, p.Currency)
	u.energy, u.charging, u.parking = append(u.energy, dec(p.EnergyKWh)), append(u.charging, dec(p.ChargingHours)), append(u.parking, dec(p.ParkingHours))
	u.exclVAT, u.inclVAT = append(u.exclVAT, dec(p.TotalExclVAT)), append(u.inclVAT, dec(p.TotalInclVAT))
	u.price, u.cdr = append(u.price, text(p.Price)), append(u.cdr, text(cdr))
	u.count, u.pricedAt, u.updatedAt = append(u.count, int32(count)), append(u.pricedAt, pricedAt), append(u.updatedAt, at)
}
