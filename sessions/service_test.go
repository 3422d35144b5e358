package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govalues/decimal"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
	"github.com/gridmetrics/gridmetrics/sources"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// fakeTariffs assigns one tariff to every source, or none.
type fakeTariffs struct {
	mu  sync.Mutex
	t   *tariffs.Tariff
	ref string
}

func (f *fakeTariffs) TariffAt(_ context.Context, _, _ int64, _ time.Time) (*tariffs.Tariff, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.t == nil {
		return nil, "", fmt.Errorf("source: %w", ErrNoTariff)
	}
	return f.t, f.ref, nil
}

func (f *fakeTariffs) set(t *tariffs.Tariff, ref string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t, f.ref = t, ref
}

// sqlReadings writes readings straight into the table, in place of the
// ingest pipeline.
type sqlReadings struct {
	pool     *pgxpool.Pool
	resolver *sources.Resolver
}

func (w sqlReadings) IngestRejections(ctx context.Context, tenantID int64, rows []ingest.Row, rejected ingest.Rejections, register sources.Register) (ingest.Result, error) {
	var refs []string
	for _, r := range rows {
		refs = append(refs, r.Source)
	}
	ids, err := w.resolver.Resolve(ctx, tenantID, refs, register)
	if err != nil {
		return ingest.Result{}, err
	}
	for _, r := range rows {
		if err := insertReading(ctx, w.pool, ids[r.Source], r.Metric, r.Time, r.Value); err != nil {
			return ingest.Result{}, err
		}
	}
	if rejected.List == nil {
		rejected.List = []ingest.RowError{}
	}
	return ingest.Result{Accepted: len(rows), Rejected: rejected.List, RejectedTotal: rejected.Total}, nil
}

type fixture struct {
	t       *testing.T
	pool    *pgxpool.Pool
	svc     *Service
	tenant  int64
	tariffs *fakeTariffs
	sources *sources.Store
	ctx     context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, dbtest.New(t))
}

// newFixtureOn is newFixture on a migrated database of the caller's.
func newFixtureOn(t *testing.T, pool *pgxpool.Pool) *fixture {
	t.Helper()
	ctx := context.Background()
	// OCPP routes register charge boxes on first sight only for tenants
	// that allow it.
	ten, err := auth.NewStore(pool).CreateTenant(ctx, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	srcs := sources.NewStore(pool)
	resolver := sources.NewResolver(srcs)
	ft := &fakeTariffs{}
	svc := NewService(pool, resolver, sqlReadings{pool, resolver}, ft, Config{})
	f := &fixture{t: t, pool: pool, svc: svc, tenant: ten.ID, tariffs: ft, sources: srcs, ctx: ctx}
	t.Cleanup(f.checkCDRs)
	return f
}

// source registers a connector of the site depot-1, both described fully
// enough for valid OCPI CDRs, and returns its internal id.
func (f *fixture) source(externalID, zone string) int64 {
	f.t.Helper()
	s, err := f.sources.Create(f.ctx, f.tenant, sources.NewSource{ExternalID: externalID, Kind: sources.KindConnector, Timezone: zone,
		SiteID: ptrTo("depot-1")})
	if err != nil {
		f.t.Fatal(err)
	}
	f.describeSite("depot-1")
	f.describeConnector(s.ID, "IEC_62196_T2", "SOCKET", "AC_3_PHASE")
	return s.ID
}

func ptrTo[T any](v T) *T { return &v }

// insertReading stores a reading as the ingest writer does: in readings,
// and as its series' newest sample in latest_readings, which tells pricing
// which series a connector has.
func insertReading(ctx context.Context, pool *pgxpool.Pool, sourceID int64, metric string, at time.Time, value float64) error {
	_, err := pool.Exec(ctx, `WITH m AS (SELECT id FROM metrics WHERE name = $3),
		r AS (INSERT INTO readings (time, source_id, metric, value) SELECT $1, $2, id, $4 FROM m
			ON CONFLICT (source_id, metric, time) DO UPDATE SET value = excluded.value)
		INSERT INTO latest_readings (source_id, metric, time, value) SELECT $2, id, $1, $4 FROM m
		ON CONFLICT (source_id, metric) DO UPDATE SET time = excluded.time, value = excluded.value
		WHERE excluded.time >= latest_readings.time`, at, sourceID, metric, value)
	return err
}

func (f *fixture) readings(sourceID int64, metric string, s []Sample) {
	f.t.Helper()
	for _, x := range s {
		if err := insertReading(f.ctx, f.pool, sourceID, metric, x.Time, x.Value); err != nil {
			f.t.Fatal(err)
		}
	}
}

// priceAll runs the pricing worker's rounds until nothing is left.
func (f *fixture) priceAll() {
	f.t.Helper()
	for {
		n, err := f.svc.PricePending(f.ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func (f *fixture) get(id string) Session {
	f.t.Helper()
	s, err := f.svc.store.Get(f.ctx, f.tenant, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func wantCode(t *testing.T, what string, err error, code api.Code) {
	t.Helper()
	if e := api.AsError(err); e == nil || e.Code != code {
		t.Fatalf("%s: err %v, want %s", what, err, code)
	}
}

func wantDec(t *testing.T, what string, got decimal.NullDecimal, want string) {
	t.Helper()
	if !got.Valid || got.Decimal.Cmp(decimal.MustParse(want)) != 0 {
		t.Errorf("%s = %v, want %s", what, got, want)
	}
}

func TestAPISessionLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	src := f.source("CB-1/1", berlin)
	f.tariffs.set(testTariff(t, berlin, parkingTariff), "tar_test@1")
	start := at(t, "UTC", "2024-03-04 10:00")

	// 11 kW for an hour, then an hour at 0 W: 3.30 + 1.00 + 5.00 = 9.30,
	// no VAT. The register reads from 9 000 Wh.
	f.readings(src, "energy_import", []Sample{{start, 9000}, {start.Add(30 * time.Minute), 14500},
		{start.Add(time.Hour), 20000}, {start.Add(90 * time.Minute), 20000}, {start.Add(2*time.Hour + time.Minute), 20000}})
	f.readings(src, "power_import", []Sample{{start, 11000}, {start.Add(time.Hour), 0}})

	n := NewSession{Source: "CB-1/1", ExternalID: "tx-1", IDTag: "TAG1", StartTime: start, MeterStart: ptr(9000)}
	s, created, err := f.svc.Start(f.ctx, f.tenant, n)
	if err != nil || !created || s.Status != StatusActive || *s.SiteID != "depot-1" {
		t.Fatalf("start: %+v created %v err %v", s, created, err)
	}
	again, created, err := f.svc.Start(f.ctx, f.tenant, n)
	if err != nil || created || again.PublicID != s.PublicID || again.Version != s.Version {
		t.Fatalf("repeated start: %+v created %v err %v", again, created, err)
	}
	n2 := n
	n2.IDTag = "OTHER"
	_, _, err = f.svc.Start(f.ctx, f.tenant, n2)
	wantCode(t, "start with other fields", err, api.CodeConflict)
	_, _, err = f.svc.Start(f.ctx, f.tenant, NewSession{Source: "nope", ExternalID: "x", StartTime: start})
	wantCode(t, "unknown source", err, api.CodeValidation)

	stop := StopSession{StopTime: start.Add(2 * time.Hour), MeterStop: ptr(20000), Reason: "EVDisconnected"}
	_, err = f.svc.Stop(f.ctx, f.tenant, s.PublicID, StopSession{StopTime: start.Add(-time.Hour)})
	wantCode(t, "stop before start", err, api.CodeValidation)
	stopped, err := f.svc.Stop(f.ctx, f.tenant, s.PublicID, stop)
	if err != nil || stopped.Status != StatusCompleted {
		t.Fatalf("stop: %+v %v", stopped, err)
	}
	if again, err := f.svc.Stop(f.ctx, f.tenant, s.PublicID, stop); err != nil || again.Version != stopped.Version {
		t.Fatalf("repeated stop: version %d (was %d), err %v", again.Version, stopped.Version, err)
	}
	_, err = f.svc.Stop(f.ctx, f.tenant, s.PublicID, StopSession{StopTime: start.Add(3 * time.Hour), MeterStop: ptr(20000)})
	wantCode(t, "stop with other fields", err, api.CodeConflict)

	f.priceAll()
	p := f.get(s.PublicID)
	if p.Status != StatusPriced || p.TariffRef != "tar_test@1" || p.Currency != "EUR" || p.PriceCount != 1 {
		t.Fatalf("priced: %+v", p.Summary())
	}
	wantDec(t, "total", p.TotalExclVAT, "9.30")
	wantDec(t, "energy", p.EnergyKWh, "11")
	wantDec(t, "parking", p.ParkingHours, "1")
	var res tariffs.Result
	if err := json.Unmarshal(p.Price, &res); err != nil || len(res.Lines) != 3 {
		t.Fatalf("itemised price: %v %s", err, p.Price)
	}
	cdr, err := tariffs.ParseCDR(p.CDR)
	if err != nil {
		t.Fatalf("CDR is not valid OCPI: %v\n%s", err, p.CDR)
	}
	if cdr.ID != s.PublicID || cdr.TotalCost.ExclVAT.Cmp(decimal.MustParse("9.30")) != 0 || len(cdr.ChargingPeriods) != 2 ||
		cdr.CdrToken.UID != "TAG1" || !cdr.LastUpdated.Equal(p.UpdatedAt.Truncate(time.Millisecond)) {
		t.Fatalf("CDR: %s", p.CDR)
	}
	// The CDR prices the same as the stored result when repriced by a peer.
	if _, again, err := cdr.Reprice(cdr.Tariffs[0]); err != nil || again.Totals.Total.ExclVAT.Cmp(res.Totals.Total.ExclVAT) != 0 {
		t.Fatalf("CDR repriced: %v %v", again.Totals.Total, err)
	}

	// Repricing with the same tariff changes nothing; with a dearer one it
	// is a new version and a new CDR.
	same, err := f.svc.Reprice(f.ctx, f.tenant, s.PublicID)
	if err != nil || same.Version != p.Version {
		t.Fatalf("reprice unchanged: version %d, was %d, err %v", same.Version, p.Version, err)
	}
	f.tariffs.set(testTariff(t, berlin, strings.Replace(parkingTariff, `"price":5.00`, `"price":6.00`, 1)), "tar_test@2")
	re, err := f.svc.Reprice(f.ctx, f.tenant, s.PublicID)
	if err != nil || re.Version <= p.Version || re.TariffRef != "tar_test@2" || re.PriceCount != 2 {
		t.Fatalf("reprice: %+v %v", re.Summary(), err)
	}
	wantDec(t, "repriced total", re.TotalExclVAT, "10.30")
	if !strings.Contains(string(re.CDR), `"id":"`+s.PublicID+`-2"`) {
		t.Errorf("repriced CDR keeps its id: %s", re.CDR)
	}
}

func TestSessionWithoutTariffFailsAndReprices(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.source("CB-1/1", "UTC")
	start := at(t, "UTC", "2024-03-04 10:00")
	s, _, err := f.svc.Start(f.ctx, f.tenant, NewSession{Source: "CB-1/1", ExternalID: "tx", StartTime: start, MeterStart: ptr(0)})
	if err != nil {
		t.Fatal(err)
	}
	// An active session has an estimate, or says why not.
	d, err := f.svc.Get(f.ctx, f.tenant, s.PublicID)
	if err != nil || d.Estimate == nil || !strings.Contains(d.Estimate.Error, "no charging tariff") {
		t.Fatalf("estimate without tariff: %+v %v", d.Estimate, err)
	}
	if _, err := f.svc.Reprice(f.ctx, f.tenant, s.PublicID); api.AsError(err) == nil || api.AsError(err).Code != api.CodeConflict {
		t.Fatalf("reprice of an active session: %v", err)
	}
	if _, err := f.svc.Stop(f.ctx, f.tenant, s.PublicID, StopSession{StopTime: start.Add(time.Hour), MeterStop: ptr(7000)}); err != nil {
		t.Fatal(err)
	}
	f.priceAll()
	failed := f.get(s.PublicID)
	if failed.Status != StatusFailed || !strings.Contains(failed.FailureReason, "no charging tariff is assigned to CB-1/1") {
		t.Fatalf("without a tariff: %s %q", failed.Status, failed.FailureReason)
	}
	if _, err := f.svc.CDR(f.ctx, f.tenant, s.PublicID); api.AsError(err) == nil {
		t.Fatal("a failed session has a CDR")
	}

	// ENERGY 0.30/kWh, 19 % VAT: 7 kWh → 2.10, 2.499 incl → 2.50 invoiced.
	f.tariffs.set(testTariff(t, "UTC", `[{"price_components":[{"type":"ENERGY","price":0.30,"vat":19,"step_size":1}]}]`), "tar_x@1")
	p, err := f.svc.Reprice(f.ctx, f.tenant, s.PublicID)
	if err != nil || p.Status != StatusPriced || p.FailureReason != "" {
		t.Fatalf("reprice: %+v %v", p.Summary(), err)
	}
	wantDec(t, "excl", p.TotalExclVAT, "2.10")
	wantDec(t, "incl", p.TotalInclVAT, "2.50")

	// An active session with a tariff has a running estimate.
	s2, _, err := f.svc.Start(f.ctx, f.tenant, NewSession{Source: "CB-1/1", ExternalID: "tx2", StartTime: time.Now().Add(-time.Hour), MeterStart: ptr(0)})
	if err != nil {
		t.Fatal(err)
	}
	d, err = f.svc.Get(f.ctx, f.tenant, s2.PublicID)
	if err != nil || d.Estimate == nil || d.Estimate.Error != "" || !d.Estimate.TotalExclVAT.Valid {
		t.Fatalf("estimate: %+v %v", d.Estimate, err)
	}
}

func TestOCPP16Transaction(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.tariffs.set(testTariff(t, "UTC", parkingTariff), "tar_p@1")
	start := at(t, "UTC", "2024-03-04 10:00")
	req := StartTransaction16{ConnectorID: 2, IDTag: "04A1", MeterStart: 1000, Timestamp: start}
	s, err := f.svc.StartTransaction16(f.ctx, f.tenant, "CB-7", req)
	if err != nil || s.Protocol != ProtocolOCPP16 || *s.SourceExternalID != "CB-7/2" {
		t.Fatalf("start: %+v %v", s, err)
	}
	again, err := f.svc.StartTransaction16(f.ctx, f.tenant, "CB-7", req)
	if err != nil || again.ExternalID != s.ExternalID {
		t.Fatalf("repeated start gave transaction %s, first %s (%v)", again.ExternalID, s.ExternalID, err)
	}
	txID := mustInt(t, s.ExternalID)
	// transactionData: 11 kW for an hour, then nothing for an hour.
	data := []json.RawMessage{
		json.RawMessage(fmt.Sprintf(`{"timestamp":%q,"sampledValue":[{"value":"1000","context":"Transaction.Begin"},{"value":"11000","measurand":"Power.Active.Import"}]}`, start.Format(time.RFC3339))),
		json.RawMessage(fmt.Sprintf(`{"timestamp":%q,"sampledValue":[{"value":"12.0","unit":"kWh"},{"value":"0","measurand":"Power.Active.Import"}]}`, start.Add(time.Hour).Format(time.RFC3339))),
	}
	stop := StopTransaction16{TransactionID: txID, MeterStop: 12000, Timestamp: start.Add(2 * time.Hour), Reason: "EVDisconnected", TransactionData: data}
	stopped, res, err := f.svc.StopTransaction16(f.ctx, f.tenant, "CB-7", stop)
	if err != nil || stopped.Status != StatusCompleted || res.Accepted != 4 {
		t.Fatalf("stop: %+v %+v %v", stopped.Summary(), res, err)
	}
	if again, _, err := f.svc.StopTransaction16(f.ctx, f.tenant, "CB-7", stop); err != nil || again.Version != stopped.Version {
		t.Fatalf("repeated stop: %v", err)
	}
	other := stop
	other.MeterStop = 13000
	_, _, err = f.svc.StopTransaction16(f.ctx, f.tenant, "CB-7", other)
	wantCode(t, "stop with another meter value", err, api.CodeConflict)
	_, _, err = f.svc.StopTransaction16(f.ctx, f.tenant, "CB-7", StopTransaction16{TransactionID: txID + 100, Timestamp: start})
	wantCode(t, "unknown transaction", err, api.CodeNotFound)

	f.priceAll()
	// 11 kWh × 0.30 + 1 h × 1.00 + 1 h parking × 5.00.
	wantDec(t, "total", f.get(s.PublicID).TotalExclVAT, "9.30")
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// event201 builds an OCPP 2.0.1 TransactionEvent as DecodeTransactionEvent201 would.
func event201(t *testing.T, body string) TransactionEvent201 {
	t.Helper()
	e, err := DecodeTransactionEvent201([]byte(body))
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return e
}

func TestOCPP201EventsInAnyOrder(t *testing.T) {
	t.Parallel()
	start := at(t, "UTC", "2024-03-04 10:00")
	ts := func(d time.Duration) string { return start.Add(d).Format(time.RFC3339) }
	started := fmt.Sprintf(`{"eventType":"Started","timestamp":%q,"triggerReason":"CablePluggedIn","seqNo":10,"offline":true,
		"transactionInfo":{"transactionId":"tx-9","chargingState":"Charging"},"idToken":{"idToken":"TOKEN9","type":"ISO14443"},
		"evse":{"id":1,"connectorId":1},"meterValue":[{"timestamp":%q,"sampledValue":[{"value":500,"context":"Transaction.Begin","unitOfMeasure":{"unit":"Wh"}}]}]}`,
		ts(0), ts(0))
	updated := fmt.Sprintf(`{"eventType":"Updated","timestamp":%q,"triggerReason":"ChargingStateChanged","seqNo":11,
		"transactionInfo":{"transactionId":"tx-9","chargingState":"SuspendedEV"},
		"meterValue":[{"timestamp":%q,"sampledValue":[{"value":11.5,"unitOfMeasure":{"unit":"kWh"}}]}]}`, ts(time.Hour), ts(time.Hour))
	ended := fmt.Sprintf(`{"eventType":"Ended","timestamp":%q,"triggerReason":"EVCommunicationLost","seqNo":12,
		"transactionInfo":{"transactionId":"tx-9","chargingState":"Idle","stoppedReason":"EVDisconnected"},
		"meterValue":[{"timestamp":%q,"sampledValue":[{"value":11500,"context":"Transaction.End"}]}]}`, ts(2*time.Hour), ts(2*time.Hour))

	// 11 kWh × 0.30 + 1 h × 1.00 + 1 h parking (SuspendedEV) × 5.00 = 9.30,
	// whatever the order the events come in, however often.
	orders := map[string][]string{
		"in order":                       {started, updated, ended},
		"ended first, started late":      {ended, updated, started},
		"ended before updated":           {started, ended, updated},
		"every event twice":              {started, started, updated, ended, updated, ended, started},
		"started lost until after price": {updated, ended, "price", started},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.tariffs.set(testTariff(t, "UTC", parkingTariff), "tar_p@1")
			var id string
			for _, body := range order {
				if body == "price" {
					f.priceAll()
					if s := f.get(id); s.Status != StatusFailed {
						t.Fatalf("without its EVSE the session is %s, want failed", s.Status)
					}
					continue
				}
				s, _, err := f.svc.TransactionEvent201(f.ctx, f.tenant, "CS-9", event201(t, body))
				if err != nil {
					t.Fatal(err)
				}
				if id != "" && s.PublicID != id {
					t.Fatalf("a second session %s (first %s)", s.PublicID, id)
				}
				id = s.PublicID
			}
			f.priceAll()
			s := f.get(id)
			if s.Status != StatusPriced || !s.StartTime.Equal(start) || !s.StopTime.Equal(start.Add(2*time.Hour)) ||
				s.IDTag != "TOKEN9" || *s.MeterStart != 500 || *s.MeterStop != 11500 || s.StopReason != "EVDisconnected" || len(s.Events) != 3 {
				t.Fatalf("session: %+v, events %+v", s.Summary(), s.Events)
			}
			wantDec(t, "total", s.TotalExclVAT, "9.30")
			wantDec(t, "parking", s.ParkingHours, "1")
			var n int
			if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM sessions`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("%d sessions (%v), want 1", n, err)
			}
		})
	}
}

func TestPricingOfAStaleVersionIsDropped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.source("CB-1/1", "UTC")
	f.tariffs.set(testTariff(t, "UTC", parkingTariff), "tar_p@1")
	start := at(t, "UTC", "2024-03-04 10:00")
	s, _, err := f.svc.Start(f.ctx, f.tenant, NewSession{Source: "CB-1/1", ExternalID: "a", StartTime: start, MeterStart: ptr(0)})
	if err != nil {
		t.Fatal(err)
	}
	s, err = f.svc.Stop(f.ctx, f.tenant, s.PublicID, StopSession{StopTime: start.Add(time.Hour), MeterStop: ptr(1000)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.compute(f.ctx, &s, *s.StopTime)
	if err != nil {
		t.Fatal(err)
	}
	// Something changed the session after it was read: the result is dropped.
	if _, err := f.pool.Exec(f.ctx, `UPDATE sessions SET change_seq = nextval('session_changes') WHERE id = $1`, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.store.storePricing(f.ctx, f.tenant, s.ID, s.Version, p); !errors.Is(err, errStale) {
		t.Fatalf("stale pricing stored: %v", err)
	}
}

// TestBillingPullUnderConcurrentWrites pages through the billing pull
// while sessions are started, stopped, priced and repriced, with a pause
// between drawing each change's version and committing it. Within a pull
// no session appears twice; no (session, version) is ever served twice;
// and once the writers stop, the last version served of every session is
// the one in the database — nothing was skipped.
func TestBillingPullUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	testBillingPullUnderConcurrentWrites(t, f, func() *Service { return f.svc }, func() {})
}

// testBillingPullUnderConcurrentWrites is the test above on f, each page
// served by the service lister returns. settle runs once the writers have
// stopped, before the last pulls, which must see every change: a standby
// must have replayed them by then.
func testBillingPullUnderConcurrentWrites(t *testing.T, f *fixture, lister func() *Service, settle func()) {
	f.source("CB-1/1", "UTC")
	f.svc.store.afterStamp = func() { time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond) }
	var cents atomic.Int64
	cents.Store(30)
	var cache sync.Map
	f.svc.tariffs = TariffSourceFunc(func(context.Context, int64, int64, time.Time) (*tariffs.Tariff, string, error) {
		c := cents.Load()
		if t, ok := cache.Load(c); ok {
			return t.(*tariffs.Tariff), fmt.Sprintf("tar_c@%d", c), nil
		}
		tf := testTariff(t, "UTC", fmt.Sprintf(`[{"price_components":[{"type":"ENERGY","price":%d.%02d,"step_size":1}]}]`, c/100, c%100))
		cache.Store(c, tf)
		return tf, fmt.Sprintf("tar_c@%d", c), nil
	})

	const starters, perStarter = 3, 25
	start := at(t, "UTC", "2024-03-04 10:00")
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	var writers sync.WaitGroup
	errc := make(chan error, 16)
	for g := range starters {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range perStarter {
				s, _, err := f.svc.Start(ctx, f.tenant, NewSession{Source: "CB-1/1", ExternalID: fmt.Sprintf("g%d-%d", g, i),
					StartTime: start.Add(time.Duration(g*perStarter+i) * time.Hour), MeterStart: ptr(0)})
				if err == nil {
					_, err = f.svc.Stop(ctx, f.tenant, s.PublicID, StopSession{StopTime: s.StartTime.Add(time.Hour), MeterStop: ptr(float64(1000 * (i + 1)))})
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var background sync.WaitGroup
	stopBackground := make(chan struct{})
	background.Add(2)
	go func() { // the pricing worker
		defer background.Done()
		for {
			select {
			case <-stopBackground:
				return
			default:
			}
			if _, err := f.svc.PricePending(ctx); err != nil {
				errc <- err
				return
			}
		}
	}()
	go func() { // a billing admin repricing priced sessions under a changing tariff
		defer background.Done()
		for {
			select {
			case <-stopBackground:
				return
			default:
			}
			cents.Add(1)
			var id string
			err := f.pool.QueryRow(ctx, `SELECT public_id FROM sessions WHERE status = 'priced' ORDER BY random() LIMIT 1`).Scan(&id)
			if err != nil {
				continue // none priced yet
			}
			if _, err := f.svc.Reprice(ctx, f.tenant, id); err != nil && api.AsError(err) == nil {
				errc <- err
				return
			}
		}
	}()

	type served struct {
		version int64
		s       Summary
	}
	type puller struct {
		filter Filter
		resume string
		last   map[string]served // id → last served
		seen   map[string]bool   // "id@version"
		pulls  int
	}
	pull := func(p *puller) {
		t.Helper()
		cursor := p.resume
		inPull := map[string]bool{}
		var prev Summary
		for {
			page, err := lister().List(f.ctx, f.tenant, p.filter, cursor, 7)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.Sessions {
				key := fmt.Sprintf("%s@%d", s.ID, s.Version)
				if inPull[s.ID] {
					t.Fatalf("session %s served twice in one pull", s.ID)
				}
				if p.seen[key] {
					t.Fatalf("version %s served twice", key)
				}
				if l, ok := p.last[s.ID]; ok && l.version >= s.Version {
					t.Fatalf("session %s served at version %d after %d", s.ID, s.Version, l.version)
				}
				if prev.ID != "" && (s.Version <= prev.Version || !s.UpdatedAt.After(prev.UpdatedAt)) {
					t.Fatalf("out of order: %s@%d (%s) after %s@%d (%s)", s.ID, s.Version, s.UpdatedAt, prev.ID, prev.Version, prev.UpdatedAt)
				}
				inPull[s.ID], p.seen[key], p.last[s.ID], prev = true, true, served{s.Version, s}, s
			}
			cursor = page.NextCursor
			if !page.HasMore {
				p.resume = cursor
				p.pulls++
				return
			}
		}
	}
	all := &puller{last: map[string]served{}, seen: map[string]bool{}}
	priced := &puller{filter: Filter{Status: StatusPriced}, last: map[string]served{}, seen: map[string]bool{}}
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case err := <-errc:
			t.Fatal(err)
		default:
		}
		pull(all)
		pull(priced)
	}
	// Let the worker price what is left, then stop the background writers.
	for {
		var pending int
		if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM sessions WHERE status <> 'priced'`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stopBackground)
	background.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	settle()
	pull(all)
	pull(priced)

	rows, err := f.pool.Query(f.ctx, `SELECT public_id, change_seq, status, total_excl_vat::text FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	db := map[string]int64{}
	for rows.Next() {
		var id, status, total string
		var v int64
		if err := rows.Scan(&id, &v, &status, &total); err != nil {
			t.Fatal(err)
		}
		db[id] = v
		for _, p := range []*puller{all, priced} {
			got, ok := p.last[id]
			if !ok || got.version != v || string(got.s.Status) != status || got.s.TotalExclVAT.Decimal.String() != total {
				t.Errorf("session %s is at version %d (%s, %s) in the database; the pull of %q last served version %d (%s, %s; found %v)",
					id, v, status, total, p.filter.Status, got.version, got.s.Status, got.s.TotalExclVAT.Decimal, ok)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(db) != starters*perStarter || len(all.last) != len(db) {
		t.Fatalf("%d sessions in the database, %d pulled, want %d", len(db), len(all.last), starters*perStarter)
	}
	t.Logf("%d pulls, %d versions served (%d of priced sessions), final price %d cents", all.pulls, len(all.seen), len(priced.seen), cents.Load())
	if len(all.seen) <= len(db) {
		t.Errorf("only %d versions served for %d sessions: the test did not overlap pulls with changes", len(all.seen), len(db))
	}
}

func TestTariffWithoutZoneReadsTheStationZone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	src := f.source("CB-1/1", berlin)
	// An OCPI tariff without gridmetrics.timezone: cheaper at weekends, read
	// in the connector's zone. Friday 23:00 to Saturday 01:00 Berlin (22:00
	// to 00:00 UTC — all Friday in UTC): 10.5 kWh × 0.35 + 4.5 kWh × 0.25.
	tf, err := tariffs.ParseTariff([]byte(`{"country_code":"DE","party_id":"GMX","id":"weekend","currency":"EUR","elements":[
		{"price_components":[{"type":"ENERGY","price":0.25,"step_size":1}],"restrictions":{"day_of_week":["SATURDAY","SUNDAY"]}},
		{"price_components":[{"type":"ENERGY","price":0.35,"step_size":1}]}],"last_updated":"2024-01-01T00:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	f.tariffs.set(tf, "tar_w@1")
	f.readings(src, "energy_import", samples(t, berlin, "2024-03-01 23:00", 0, "2024-03-01 23:50", 10000,
		"2024-03-02 00:10", 11000, "2024-03-02 01:00", 15000))
	s, _, err := f.svc.Start(f.ctx, f.tenant, NewSession{Source: "CB-1/1", ExternalID: "night", StartTime: at(t, berlin, "2024-03-01 23:00")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Stop(f.ctx, f.tenant, s.PublicID, StopSession{StopTime: at(t, berlin, "2024-03-02 01:00")}); err != nil {
		t.Fatal(err)
	}
	f.priceAll()
	p := f.get(s.PublicID)
	wantDec(t, "total", p.TotalExclVAT, "4.80")
	if tf.Extension != nil {
		t.Error("pricing changed the shared tariff")
	}
}

// A connector metered per phase is priced from the sum of its phases, read
// in the same batch statement as its neighbour's totals, and neither
// connector's series reaches the other's session.
func TestPerPhaseReadingsStandInForTotals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	phased, whole := f.source("CB-1/1", berlin), f.source("CB-1/2", berlin)
	f.tariffs.set(testTariff(t, berlin, parkingTariff), "tar_test@1")
	start := at(t, "UTC", "2024-03-04 10:00")
	energy := []Sample{{start, 0}, {start.Add(time.Hour), 11000}, {start.Add(2 * time.Hour), 11000}}
	f.readings(phased, "energy_import", energy)
	for i, w := range []float64{3700, 3700, 3600} {
		f.readings(phased, fmt.Sprintf("power_import_l%d", i+1), []Sample{{start, w}, {start.Add(time.Hour), 0}})
		f.readings(phased, fmt.Sprintf("current_import_l%d", i+1), []Sample{{start, 16}, {start.Add(time.Hour), 0}})
	}
	// The neighbour draws 7 kW for both hours: no parking.
	f.readings(whole, "energy_import", []Sample{{start, 0}, {start.Add(2 * time.Hour), 14000}})
	f.readings(whole, "power_import", []Sample{{start, 7000}, {start.Add(2 * time.Hour), 7000}})
	var ids []string
	for i, box := range []string{"CB-1/1", "CB-1/2"} {
		s, _, err := f.svc.Start(f.ctx, f.tenant, NewSession{Source: box, ExternalID: fmt.Sprint("tx-", i), StartTime: start})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Stop(f.ctx, f.tenant, s.PublicID, StopSession{StopTime: start.Add(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.PublicID)
	}
	f.priceAll()
	for i, want := range []string{
		"03-04T10:00:00 ENERGY=11 TIME=1 MAX_POWER=11 MAX_CURRENT=48; 03-04T11:00:00 ENERGY=0 PARKING_TIME=1 MAX_POWER=0 MAX_CURRENT=0",
		"03-04T10:00:00 ENERGY=14 TIME=2 MAX_POWER=7",
	} {
		p := f.get(ids[i])
		cdr, err := tariffs.ParseCDR(p.CDR)
		if p.Status != StatusPriced || err != nil {
			t.Fatalf("session %d: %+v %v", i, p.Summary(), err)
		}
		if got := describe(cdr.ChargingPeriods); got != want {
			t.Errorf("session %d periods:\n got %s\nwant %s", i, got, want)
		}
	}
}
