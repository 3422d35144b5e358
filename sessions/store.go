package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/govalues/decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/internal/pgbinary"
	"github.com/gridmetrics/gridmetrics/sources"
)

// Store keeps charging sessions. Every write goes through Store.write,
// which holds the tenant's session lock until commit; see the package
// documentation for why that makes the billing pull exact.
type Store struct {
	db *pgxpool.Pool
	// afterStamp, when set (by tests), runs between drawing a change's
	// version and committing it, to widen the window in which another
	// writer could commit first.
	afterStamp func()
}

// NewStore returns a store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

// lockClass is the first key of the per-tenant session write lock
// (pg_advisory_xact_lock(int, int); "gses" in ASCII). The second key is the
// tenant id folded into 31 bits: two tenants sharing a key only wait for
// each other, they never see each other's rows.
const lockClass int32 = 0x67736573

func lockKey(tenantID int64) int32 { return int32(tenantID & 0x7fffffff) }

// The columns of a session, with its source's public id, external id and
// site (the connector's, else its charge box's). summaryColumns leaves out
// the large ones (events, price, CDR).
const (
	summaryColumns = `s.id, s.public_id, s.tenant_id, s.source_id, s.charge_box_id, s.external_id, s.protocol, s.id_tag,
	s.status, s.start_time, s.stop_time, s.meter_start, s.meter_stop, s.stop_reason, s.failure_reason,
	s.tariff_ref, s.currency, s.energy_kwh::text, s.charging_hours::text, s.parking_hours::text,
	s.total_excl_vat::text, s.total_incl_vat::text, s.price_count, s.priced_at, s.created_at, s.updated_at, s.change_seq,
	src.public_id, src.external_id, ` + siteColumn
	siteColumn   = `coalesce(src.site_id, box.site_id)`
	fullColumns  = summaryColumns + `, s.events, s.price::text, s.cdr::text`
	fromSessions = ` FROM sessions s LEFT JOIN sources src ON src.id = s.source_id LEFT JOIN sources box ON box.id = src.parent_id`
)

func scanSession(row pgx.Row, full bool) (Session, error) {
	var s Session
	var dec [5]*string
	var events []byte
	var price, cdr *string
	dest := []any{&s.ID, &s.PublicID, &s.TenantID, &s.SourceID, &s.ChargeBoxID, &s.ExternalID, &s.Protocol, &s.IDTag,
		&s.Status, &s.StartTime, &s.StopTime, &s.MeterStart, &s.MeterStop, &s.StopReason, &s.FailureReason,
		&s.TariffRef, &s.Currency, &dec[0], &dec[1], &dec[2], &dec[3], &dec[4],
		&s.PriceCount, &s.PricedAt, &s.CreatedAt, &s.UpdatedAt, &s.Version,
		&s.Source, &s.SourceExternalID, &s.SiteID}
	if full {
		dest = append(dest, &events, &price, &cdr)
	}
	if err := row.Scan(dest...); err != nil {
		return Session{}, err
	}
	for i, p := range []*decimal.NullDecimal{&s.EnergyKWh, &s.ChargingHours, &s.ParkingHours, &s.TotalExclVAT, &s.TotalInclVAT} {
		if dec[i] == nil {
			continue
		}
		d, err := decimal.Parse(*dec[i])
		if err != nil {
			return Session{}, fmt.Errorf("read session %d: %w", s.ID, err)
		}
		*p = decimal.NullDecimal{Decimal: d, Valid: true}
	}
	if len(events) > 0 {
		if err := json.Unmarshal(events, &s.Events); err != nil {
			return Session{}, fmt.Errorf("read events of session %d: %w", s.ID, err)
		}
	}
	if price != nil {
		s.Price = json.RawMessage(*price)
	}
	if cdr != nil {
		s.CDR = json.RawMessage(*cdr)
	}
	return s, nil
}

// Get returns a tenant's session by public id, in full.
func (st *Store) Get(ctx context.Context, tenantID int64, publicID string) (Session, error) {
	s, err := scanSession(st.db.QueryRow(ctx, `SELECT `+fullColumns+fromSessions+` WHERE s.tenant_id = $1 AND s.public_id = $2`,
		tenantID, publicID), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, api.NotFound("session", publicID)
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session %s: %w", publicID, err)
	}
	return s, nil
}

// getByID returns a session by internal id, in full.
func (st *Store) getByID(ctx context.Context, id int64) (Session, error) {
	s, err := scanSession(st.db.QueryRow(ctx, `SELECT `+fullColumns+fromSessions+` WHERE s.id = $1`, id), true)
	if err != nil {
		return Session{}, fmt.Errorf("read session %d: %w", id, err)
	}
	return s, nil
}

// find reads a session by charge box ("" for the API) and external id,
// without locking it.
func (st *Store) find(ctx context.Context, tenantID int64, chargeBoxID, externalID string) (Session, bool, error) {
	s, err := scanSession(st.db.QueryRow(ctx, `SELECT `+fullColumns+fromSessions+`
		WHERE s.tenant_id = $1 AND s.charge_box_id = $2 AND s.external_id = $3`, tenantID, chargeBoxID, externalID), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("read session: %w", err)
	}
	return s, true, nil
}

// Tx is a session write transaction of one tenant. It holds the tenant's
// session lock, so its changes get change_seq values — and updated_at
// values — above every change committed before it and below every change
// committed after it.
type Tx struct {
	tx         pgx.Tx
	tenantID   int64
	afterStamp func()
}

// write runs f in a transaction holding the tenant's session lock. The
// lock is taken first, before any row lock, so writers never deadlock on
// it; it is held until commit, which is what orders change_seq by commit.
func (st *Store) write(ctx context.Context, tenantID int64, f func(*Tx) error) error {
	return pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockClass, lockKey(tenantID)); err != nil {
			return fmt.Errorf("take the session lock: %w", err)
		}
		return f(&Tx{tx: tx, tenantID: tenantID, afterStamp: st.afterStamp})
	})
}

// stamp draws the next change_seq and an updated_at strictly after every
// earlier change of the tenant (the clock, or 1 µs past the last change if
// the clock is behind it). So the order by (updated_at, id) is the order by
// change_seq, which is commit order.
func (w *Tx) stamp(ctx context.Context) (int64, time.Time, error) {
	seqs, ats, err := w.stamps(ctx, 1)
	if err != nil {
		return 0, time.Time{}, err
	}
	return seqs[0], ats[0], nil
}

// stamps draws n stamps at once, for n changes written together: rising
// change_seq values, and updated_at values 1 µs apart from the first
// stamp's on, in the same order.
func (w *Tx) stamps(ctx context.Context, n int) ([]int64, []time.Time, error) {
	var seqs []int64
	var at time.Time
	err := w.tx.QueryRow(ctx, `SELECT (SELECT array_agg(nextval('session_changes')) FROM generate_series(1, $2)), greatest(clock_timestamp(),
		coalesce((SELECT updated_at FROM sessions WHERE tenant_id = $1 ORDER BY change_seq DESC LIMIT 1), '-infinity'::timestamptz)
		+ interval '1 microsecond')`, w.tenantID, n).Scan(&seqs, &at)
	if err != nil {
		return nil, nil, fmt.Errorf("stamp session change: %w", err)
	}
	if w.afterStamp != nil {
		w.afterStamp()
	}
	slices.Sort(seqs)
	ats := make([]time.Time, n)
	for i := range ats {
		ats[i] = at.Add(time.Duration(i) * time.Microsecond)
	}
	return seqs, ats, nil
}

// lock reads a session and locks its row; found is false when there is no
// such session.
func (w *Tx) lock(ctx context.Context, where string, args ...any) (Session, bool, error) {
	args = append([]any{w.tenantID}, args...)
	s, err := scanSession(w.tx.QueryRow(ctx, `SELECT `+fullColumns+fromSessions+` WHERE s.tenant_id = $1 AND `+where+` FOR UPDATE OF s`, args...), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("read session: %w", err)
	}
	return s, true, nil
}

// byPublicID locks a session by public id.
func (w *Tx) byPublicID(ctx context.Context, publicID string) (Session, bool, error) {
	return w.lock(ctx, `s.public_id = $2`, publicID)
}

// byExternalID locks a session by charge box ("" for the API) and
// external id.
func (w *Tx) byExternalID(ctx context.Context, chargeBoxID, externalID string) (Session, bool, error) {
	return w.lock(ctx, `s.charge_box_id = $2 AND s.external_id = $3`, chargeBoxID, externalID)
}

// ocpp16Start finds the OCPP 1.6 session a repeated StartTransaction.req
// started: same connector, start time and id tag.
func (w *Tx) ocpp16Start(ctx context.Context, chargeBoxID string, sourceID int64, start time.Time, idTag string) (Session, bool, error) {
	return w.lock(ctx, `s.protocol = 'ocpp1.6' AND s.charge_box_id = $2 AND s.source_id = $3 AND s.start_time = $4 AND s.id_tag = $5`,
		chargeBoxID, sourceID, start, idTag)
}

// nextTransactionID draws an OCPP 1.6 transaction id.
func (w *Tx) nextTransactionID(ctx context.Context) (int64, error) {
	var id int64
	if err := w.tx.QueryRow(ctx, `SELECT nextval('ocpp16_transaction_ids')`).Scan(&id); err != nil {
		return 0, fmt.Errorf("draw a transaction id: %w", err)
	}
	return id, nil
}

// eventsJSON renders events for the jsonb column, as text: the
// single-connection TimescaleDB harness refuses jsonb sent as bytes.
func eventsJSON(events []Event) (string, error) {
	if events == nil {
		events = []Event{}
	}
	b, err := json.Marshal(events)
	return string(b), err
}

// insert stores a new session and fills in its ids, times and version.
func (w *Tx) insert(ctx context.Context, s *Session) error {
	seq, at, err := w.stamp(ctx)
	if err != nil {
		return err
	}
	events, err := eventsJSON(s.Events)
	if err != nil {
		return err
	}
	s.PublicID = auth.NewPublicID("ses")
	s.TenantID = w.tenantID
	err = w.tx.QueryRow(ctx, `INSERT INTO sessions (public_id, tenant_id, source_id, charge_box_id, external_id, protocol, id_tag,
			status, start_time, stop_time, meter_start, meter_stop, stop_reason, failure_reason, events, created_at, updated_at, change_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17) RETURNING id`,
		s.PublicID, w.tenantID, s.SourceID, s.ChargeBoxID, s.ExternalID, s.Protocol, s.IDTag,
		s.Status, s.StartTime, s.StopTime, s.MeterStart, s.MeterStop, s.StopReason, s.FailureReason, events, at, seq).Scan(&s.ID)
	if err != nil {
		return interpretError(err, s)
	}
	s.CreatedAt, s.UpdatedAt, s.Version = at, at, seq
	return nil
}

// update writes a session's lifecycle fields as a new version, releasing
// any pricing claim (a completed session is priced afresh).
func (w *Tx) update(ctx context.Context, s *Session) error {
	seq, at, err := w.stamp(ctx)
	if err != nil {
		return err
	}
	events, err := eventsJSON(s.Events)
	if err != nil {
		return err
	}
	_, err = w.tx.Exec(ctx, `UPDATE sessions SET source_id = $2, id_tag = $3, status = $4, start_time = $5, stop_time = $6,
			meter_start = $7, meter_stop = $8, stop_reason = $9, failure_reason = $10, events = $11, claimed_until = NULL,
			pricing_attempts = 0, pricing_error = '', updated_at = $12, change_seq = $13
		WHERE id = $1`,
		s.ID, s.SourceID, s.IDTag, s.Status, s.StartTime, s.StopTime, s.MeterStart, s.MeterStop, s.StopReason, s.FailureReason,
		events, at, seq)
	if err != nil {
		return interpretError(err, s)
	}
	s.UpdatedAt, s.Version = at, seq
	return nil
}

// updateEvents stores a session's events without a new version: for an
// event that changes nothing a billing job sees (its seqNo is kept so a
// repeat is recognised).
func (w *Tx) updateEvents(ctx context.Context, s *Session) error {
	events, err := eventsJSON(s.Events)
	if err != nil {
		return err
	}
	if _, err := w.tx.Exec(ctx, `UPDATE sessions SET events = $2 WHERE id = $1`, s.ID, events); err != nil {
		return fmt.Errorf("store events of session %s: %w", s.PublicID, err)
	}
	return nil
}

// Pricing is the outcome of pricing a session, to store.
type Pricing struct {
	Status        Status // StatusPriced or StatusFailed
	FailureReason string
	TariffRef     string
	Currency      string
	EnergyKWh     decimal.NullDecimal
	ChargingHours decimal.NullDecimal
	ParkingHours  decimal.NullDecimal
	TotalExclVAT  decimal.NullDecimal
	TotalInclVAT  decimal.NullDecimal
	Price         json.RawMessage
	// CDR renders the OCPI CDR once the write's time and the pricing's
	// number (1 for the first) are known: they are its last_updated and
	// part of its id.
	CDR func(lastUpdated time.Time, count int) ([]byte, error)
}

// same reports whether storing p would change nothing in s: the same
// result and, for a priced session, the same CDR (rendered as it was: its
// site or connector may have been described since).
func (p *Pricing) same(s *Session) bool {
	if s.Status != p.Status || s.FailureReason != p.FailureReason || s.TariffRef != p.TariffRef ||
		s.Currency != p.Currency || string(s.Price) != string(p.Price) {
		return false
	}
	if p.Status != StatusPriced || p.CDR == nil || s.PricedAt == nil {
		return true
	}
	cdr, err := p.CDR(*s.PricedAt, s.PriceCount)
	return err == nil && string(cdr) == string(s.CDR)
}

// errStale says a session changed since it was read for pricing.
var errStale = errors.New("session changed while it was priced")

// storePricing stores p on the session if it is still at version (else
// errStale), as a new version — unless p changes nothing, in which case only
// the worker's claim is released. It returns the session as it now is.
func (st *Store) storePricing(ctx context.Context, tenantID, id, version int64, p Pricing) (Session, error) {
	var out Session
	err := st.write(ctx, tenantID, func(w *Tx) error {
		cur, found, err := w.lock(ctx, `s.id = $2`, id)
		if err != nil {
			return err
		}
		if !found || cur.Version != version {
			return errStale
		}
		if p.same(&cur) {
			_, err := w.tx.Exec(ctx, `UPDATE sessions SET claimed_until = NULL, pricing_attempts = 0, pricing_error = '' WHERE id = $1`, id)
			out = cur
			return err
		}
		seq, at, err := w.stamp(ctx)
		if err != nil {
			return err
		}
		count := cur.PriceCount
		var cdr []byte
		var pricedAt *time.Time
		if p.Status == StatusPriced {
			count++
			if cdr, err = p.CDR(at, count); err != nil {
				return fmt.Errorf("render the CDR of session %s: %w", cur.PublicID, err)
			}
			pricedAt = &at
		}
		decText := func(d decimal.NullDecimal) *string {
			if !d.Valid {
				return nil
			}
			s := d.Decimal.String()
			return &s
		}
		var price *string
		if p.Price != nil {
			s := string(p.Price)
			price = &s
		}
		var cdrText *string
		if cdr != nil {
			s := string(cdr)
			cdrText = &s
		}
		_, err = w.tx.Exec(ctx, `UPDATE sessions SET status = $2, failure_reason = $3, tariff_ref = $4, currency = $5,
				energy_kwh = $6::numeric, charging_hours = $7::numeric, parking_hours = $8::numeric,
				total_excl_vat = $9::numeric, total_incl_vat = $10::numeric, price = $11::json, cdr = $12::json,
				price_count = $13, priced_at = $14, claimed_until = NULL, pricing_attempts = 0, pricing_error = '',
				updated_at = $15, change_seq = $16
			WHERE id = $1`,
			id, p.Status, p.FailureReason, p.TariffRef, p.Currency,
			decText(p.EnergyKWh), decText(p.ChargingHours), decText(p.ParkingHours), decText(p.TotalExclVAT), decText(p.TotalInclVAT),
			price, cdrText, count, pricedAt, at, seq)
		if err != nil {
			return fmt.Errorf("store the price of session %s: %w", cur.PublicID, err)
		}
		out, err = scanSession(w.tx.QueryRow(ctx, `SELECT `+fullColumns+fromSessions+` WHERE s.id = $1`, id), true)
		return err
	})
	return out, err
}

// pricingFailed counts a failed attempt to price a session that is still
// at version, keeping cause for operators. At maxAttempts the session is
// quarantined: it becomes failed with reason, as a new version, and no
// worker claims it again until a lifecycle change or a reprice. A session
// that changed meanwhile is left alone (its count started afresh). It
// returns the attempts counted so far and whether the session is now
// quarantined.
func (st *Store) pricingFailed(ctx context.Context, tenantID, id, version int64, cause string, maxAttempts int,
	reason func(attempts int) string) (int, bool, error) {
	var attempts int
	var quarantined bool
	err := st.write(ctx, tenantID, func(w *Tx) error {
		err := w.tx.QueryRow(ctx, `UPDATE sessions SET pricing_attempts = pricing_attempts + 1, pricing_error = $3
			WHERE id = $1 AND change_seq = $2 AND status = 'completed' RETURNING pricing_attempts`, id, version, cause).Scan(&attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("count a pricing attempt of session %d: %w", id, err)
		}
		if attempts < maxAttempts {
			return nil
		}
		seq, at, err := w.stamp(ctx)
		if err != nil {
			return err
		}
		// As storePricing stores a failed pricing: no price, no CDR.
		_, err = w.tx.Exec(ctx, `UPDATE sessions SET status = 'failed', failure_reason = $2, tariff_ref = '', currency = '',
				energy_kwh = NULL, charging_hours = NULL, parking_hours = NULL, total_excl_vat = NULL, total_incl_vat = NULL,
				price = NULL, cdr = NULL, priced_at = NULL, claimed_until = NULL, updated_at = $3, change_seq = $4
			WHERE id = $1`, id, reason(attempts), at, seq)
		if err != nil {
			return fmt.Errorf("quarantine session %d: %w", id, err)
		}
		quarantined = true
		return nil
	})
	return attempts, quarantined, err
}

// claimed is a session a pricing worker took.
type claimed struct {
	id, tenantID, version int64
}

// claim takes up to n completed sessions that no worker holds, for lease:
// other workers skip them until it runs out (a worker that dies leaves them
// to the next). SKIP LOCKED passes over sessions a lifecycle write is
// changing at that moment; they are taken on a later round.
func (st *Store) claim(ctx context.Context, n int, lease time.Duration) ([]claimed, error) {
	rows, err := st.db.Query(ctx, `UPDATE sessions SET claimed_until = clock_timestamp() + $2 * interval '1 millisecond'
		WHERE id IN (SELECT id FROM sessions WHERE status = 'completed'
			AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
			ORDER BY change_seq LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING id, tenant_id, change_seq`, n, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claim sessions to price: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
		var c claimed
		err := r.Scan(&c.id, &c.tenantID, &c.version)
		return c, err
	})
}

// readingMetrics are the series a session's periods are built from; the
// per-phase ones stand in for a missing total. readings assembles Readings
// by these positions.
var readingMetrics = []string{"energy_import", "power_import", "current_import",
	"power_import_l1", "power_import_l2", "power_import_l3",
	"current_import_l1", "current_import_l2", "current_import_l3"}

// window is a connector's time span whose readings a session is priced
// from: [from, to], plus the sample either side.
type window struct {
	sourceID int64
	from, to time.Time
}

// readings reads, for each window, the connector's energy, power and
// current over [from, to], plus the last sample before and the first after
// each series, so the edges can be interpolated — all windows in one
// statement. Nothing is copied into the sessions.
func (st *Store) readings(ctx context.Context, ws []window) ([]Readings, error) {
	out := make([]Readings, len(ws))
	if len(ws) == 0 {
		return out, nil
	}
	ids, froms, tos := make([]int64, len(ws)), make([]time.Time, len(ws)), make([]time.Time, len(ws))
	for i, w := range ws {
		ids[i], froms[i], tos[i] = w.sourceID, w.from, w.to
	}
	// One row per window and series, its samples in arrays: a session's
	// couple of hundred samples cost the database one output row per
	// series rather than one each. Only the series the connector has are
	// probed — latest_readings, written in the same transaction as the
	// readings themselves, lists them — and the probes after the window
	// and within it are skipped where the series' newest sample says they
	// would find nothing.
	rows, err := st.db.Query(ctx, `SELECT q.i, m.name, x.times, x.vals
		FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS q(source_id, t0, t1, i)
		JOIN latest_readings l ON l.source_id = q.source_id
		JOIN metrics m ON m.id = l.metric AND m.name = ANY($4)
		CROSS JOIN LATERAL (SELECT array_agg(u.time) AS times, array_agg(u.value) AS vals FROM (
			(SELECT time, value FROM readings r WHERE r.source_id = q.source_id AND r.metric = l.metric AND r.time < q.t0 ORDER BY time DESC LIMIT 1)
			UNION ALL
			(SELECT time, value FROM readings r WHERE l.time >= q.t0 AND r.source_id = q.source_id AND r.metric = l.metric AND r.time >= q.t0 AND r.time <= q.t1)
			UNION ALL
			(SELECT time, value FROM readings r WHERE l.time > q.t1 AND r.source_id = q.source_id AND r.metric = l.metric AND r.time > q.t1 ORDER BY time LIMIT 1)
		) u) x WHERE x.times IS NOT NULL`, ids, froms, tos, readingMetrics)
	if err != nil {
		return nil, fmt.Errorf("read readings of %d sessions: %w", len(ws), err)
	}
	defer rows.Close()
	// The rows are decoded from their binary form straight into samples:
	// pgx would make a slice of times and one of values for every row
	// first. A connection that asks for text (the simple protocol) is
	// scanned by pgx.
	binary := requireBinary(rows.FieldDescriptions()[2:]) == nil
	series := make([][]Sample, len(ws)*len(readingMetrics)) // by window, then metric
	for rows.Next() {
		var i, metric int
		var ss []Sample
		var err error
		if binary {
			i, metric, ss, err = scanSeries(rows.RawValues(), len(ws))
		} else {
			i, metric, ss, err = scanSeriesText(rows, len(ws))
		}
		if err != nil {
			return nil, fmt.Errorf("read readings of %d sessions: %w", len(ws), err)
		}
		// The sample before, those within, the sample after: in time
		// order as the statement reads them, which SQL does not promise.
		if !slices.IsSortedFunc(ss, func(a, b Sample) int { return a.Time.Compare(b.Time) }) {
			slices.SortFunc(ss, func(a, b Sample) int { return a.Time.Compare(b.Time) })
		}
		series[i*len(readingMetrics)+metric] = ss
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read readings of %d sessions: %w", len(ws), err)
	}
	for i := range out {
		m := series[i*len(readingMetrics) : (i+1)*len(readingMetrics)]
		r := Readings{Energy: m[0], Power: m[1], Current: m[2]}
		if len(r.Power) == 0 {
			r.Power = sumPhases(m[3], m[4], m[5])
		}
		if len(r.Current) == 0 {
			r.Current = sumPhases(m[6], m[7], m[8])
		}
		out[i] = r
	}
	return out, nil
}

// requireBinary checks that columns arrive in binary form, which the
// stores that decode raw rows read.
func requireBinary(fds []pgconn.FieldDescription) error {
	for _, fd := range fds {
		if fd.Format != pgx.BinaryFormatCode {
			return fmt.Errorf("column %s arrives as text", fd.Name)
		}
	}
	return nil
}

// scanSeriesText is scanSeries through pgx's scanning.
func scanSeriesText(rows pgx.Rows, windows int) (i, metric int, ss []Sample, err error) {
	var ord int64
	var name string
	var times []time.Time
	var vals []float64
	if err := rows.Scan(&ord, &name, &times, &vals); err != nil {
		return 0, 0, nil, err
	}
	if ord < 1 || ord > int64(windows) || len(times) != len(vals) {
		return 0, 0, nil, fmt.Errorf("window %d of %d, %d times and %d values", ord, windows, len(times), len(vals))
	}
	if metric = slices.Index(readingMetrics, name); metric < 0 {
		return 0, 0, nil, fmt.Errorf("metric %q was not asked for", name)
	}
	ss = make([]Sample, len(times))
	for k := range times {
		ss[k] = Sample{Time: times[k].UTC(), Value: vals[k]}
	}
	return int(ord - 1), metric, ss, nil
}

// scanSeries decodes a row of the readings statement: the window's
// ordinal (from 1), the metric's name, and the samples' times and values.
// It returns the window's index, the metric's index in readingMetrics and
// the samples.
func scanSeries(raw [][]byte, windows int) (i, metric int, ss []Sample, err error) {
	if len(raw) != 4 {
		return 0, 0, nil, fmt.Errorf("a row of %d columns", len(raw))
	}
	ord, err := pgbinary.Int8(raw[0])
	if err != nil || ord < 1 || ord > int64(windows) {
		return 0, 0, nil, fmt.Errorf("window %d of %d (%v)", ord, windows, err)
	}
	metric = slices.Index(readingMetrics, string(raw[1]))
	if metric < 0 {
		return 0, 0, nil, fmt.Errorf("metric %q was not asked for", raw[1])
	}
	times, err := pgbinary.ParseArray(raw[2], pgbinary.OIDTimestamptz)
	if err != nil {
		return 0, 0, nil, err
	}
	vals, err := pgbinary.ParseArray(raw[3], pgbinary.OIDFloat8)
	if err != nil {
		return 0, 0, nil, err
	}
	if times.Len() != vals.Len() {
		return 0, 0, nil, fmt.Errorf("%d times and %d values", times.Len(), vals.Len())
	}
	ss = make([]Sample, times.Len())
	for k := range ss {
		tb, err := times.Next()
		if err != nil {
			return 0, 0, nil, err
		}
		vb, err := vals.Next()
		if err != nil {
			return 0, 0, nil, err
		}
		if ss[k].Time, err = pgbinary.Timestamptz(tb); err != nil {
			return 0, 0, nil, err
		}
		if ss[k].Value, err = pgbinary.Float8(vb); err != nil {
			return 0, 0, nil, err
		}
	}
	return int(ord - 1), metric, ss, nil
}

// sumPhases adds per-phase samples taken at the same instant.
func sumPhases(phases ...[]Sample) []Sample {
	sums := map[time.Time]float64{}
	var times []time.Time
	for _, p := range phases {
		for _, s := range p {
			if _, ok := sums[s.Time]; !ok {
				times = append(times, s.Time)
			}
			sums[s.Time] += s.Value
		}
	}
	out := make([]Sample, 0, len(times))
	for _, t := range times {
		out = append(out, Sample{t, sums[t]})
	}
	return sortedSamples(out)
}

// Filter selects sessions in the billing pull and the export. Empty fields
// match everything. From and To bound the start time, [From, To). SiteID
// is the connector's site, else its charge box's (connectors registered by
// OCPP have none of their own).
type Filter struct {
	Status       Status
	Source       string // the connector's public id or external id
	SiteID       string
	From, To     time.Time
	UpdatedSince time.Time

	sourceID int64 // Source resolved by withSource; 0 matches no session
}

// withSource resolves f.Source the way every route names a source
// (sources.LookupIDs). A name that is no source of the tenant matches no
// session, as an unknown site does.
func (st *Store) withSource(ctx context.Context, tenantID int64, f Filter) (Filter, error) {
	if f.Source == "" {
		return f, nil
	}
	found, err := sources.LookupIDs(ctx, st.db, tenantID, []string{f.Source})
	if err != nil {
		return f, err
	}
	f.sourceID = found[f.Source]
	return f, nil
}

// where renders the filter as SQL conditions after $1 = tenant id.
func (f Filter) where(args []any) (string, []any) {
	conds := []string{"s.tenant_id = $1"}
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(args))))
	}
	if f.Status != "" {
		add("s.status = $?", f.Status)
	}
	if f.Source != "" {
		add("s.source_id = $?", f.sourceID)
	}
	if f.SiteID != "" {
		add(siteColumn+" = $?", f.SiteID)
	}
	if !f.From.IsZero() {
		add("s.start_time >= $?", f.From)
	}
	if !f.To.IsZero() {
		add("s.start_time < $?", f.To)
	}
	if !f.UpdatedSince.IsZero() {
		add("s.updated_at >= $?", f.UpdatedSince)
	}
	return strings.Join(conds, " AND "), args
}

// horizon is the tenant's last committed change: every change at or below
// it is committed and visible (see Tx.stamp).
func (st *Store) horizon(ctx context.Context, tenantID int64) (int64, error) {
	var h int64
	err := st.db.QueryRow(ctx, `SELECT coalesce(max(change_seq), 0) FROM sessions WHERE tenant_id = $1`, tenantID).Scan(&h)
	if err != nil {
		return 0, fmt.Errorf("read the session change horizon: %w", err)
	}
	return h, nil
}

// page returns up to limit+1 sessions matching f (its source resolved by
// withSource) whose version is in (after, upTo], in version order.
func (st *Store) page(ctx context.Context, tenantID int64, f Filter, after, upTo int64, limit int) ([]Session, error) {
	cond, args := f.where([]any{tenantID})
	args = append(args, after, upTo, limit+1)
	n := len(args)
	rows, err := st.db.Query(ctx, fmt.Sprintf(`SELECT %s%s WHERE %s AND s.change_seq > $%d AND s.change_seq <= $%d
		ORDER BY s.change_seq LIMIT $%d`, summaryColumns, fromSessions, cond, n-2, n-1, n), args...)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Session, error) { return scanSession(r, false) })
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return list, nil
}

// interpretError turns a unique violation into a CONFLICT.
func interpretError(err error, s *Session) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return api.Errorf(api.CodeConflict, "a session with external_id %q already exists", s.ExternalID)
		case "23514":
			return api.Validation("stop_time", "is before the session start")
		}
	}
	return fmt.Errorf("store session: %w", err)
}
