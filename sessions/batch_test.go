package sessions

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/sources"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// mapTariffs assigns tariffs by source (internal id), answering one query
// at a time or, when batch is set, many at once as the server's source
// does. before, when set, runs before each lookup of a source.
type mapTariffs struct {
	mu     sync.Mutex
	bySrc  map[int64]assigned
	before func(sourceID int64)
	calls  int
}

type assigned struct {
	t   *tariffs.Tariff
	ref string
}

func (m *mapTariffs) TariffAt(_ context.Context, _, sourceID int64, _ time.Time) (*tariffs.Tariff, string, error) {
	if m.before != nil {
		m.before(sourceID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	a, ok := m.bySrc[sourceID]
	if !ok {
		return nil, "", ErrNoTariff
	}
	return a.t, a.ref, nil
}

// batchTariffs is mapTariffs answering a batch in one call.
type batchTariffs struct{ *mapTariffs }

func (b batchTariffs) TariffsAt(ctx context.Context, qs []TariffQuery) ([]TariffAnswer, error) {
	out := make([]TariffAnswer, len(qs))
	for i, q := range qs {
		out[i].Tariff, out[i].Ref, out[i].Err = b.TariffAt(ctx, q.TenantID, q.SourceID, q.At)
	}
	return out, nil
}

// batchWorld is generated data for the batch tests: tenants, chargers and
// connectors in several zones, tariffs assigned to some connectors, to
// some charge boxes, to none, and completed sessions with readings.
type batchWorld struct {
	f        *fixture
	tariffs  *mapTariffs
	sessions []Session // completed, as stored
}

func newBatchWorld(t *testing.T, f *fixture, seed uint64, perConnector int) *batchWorld {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	w := &batchWorld{f: f, tariffs: &mapTariffs{bySrc: map[int64]assigned{}}}
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"}
	// Tariffs: one reading its windows in its own zone, one in the
	// station's (no zone of its own), one with parking and a flat fee.
	own := testTariff(t, "Europe/Berlin", `[{"price_components":[{"type":"FLAT","price":0.50,"vat":19,"step_size":1}]},
		{"price_components":[{"type":"ENERGY","price":0.45,"vat":19,"step_size":1}],"restrictions":{"start_time":"08:00","end_time":"20:00"}},
		{"price_components":[{"type":"ENERGY","price":0.30,"vat":19,"step_size":1}]}]`)
	station, err := tariffs.ParseTariff([]byte(`{"country_code":"DE","party_id":"GMX","id":"weekend","currency":"EUR","last_updated":"2024-01-01T00:00:00Z",
		"elements":[{"price_components":[{"type":"ENERGY","price":0.25,"step_size":1}],"restrictions":{"day_of_week":["SATURDAY","SUNDAY"]}},
		{"price_components":[{"type":"ENERGY","price":0.35,"step_size":1}],"restrictions":{"start_time":"22:00","end_time":"06:00"}},
		{"price_components":[{"type":"ENERGY","price":0.40,"step_size":1},{"type":"TIME","price":0.60,"step_size":60}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	parking := testTariff(t, "America/New_York", parkingTariff)
	choices := []assigned{{own, "tar_own@1"}, {station, "tar_station@3"}, {parking, "tar_parking@2"}}

	tenants := []int64{f.tenant}
	for _, name := range []string{"globex", "initech"} {
		ten, err := auth.NewStore(f.pool).CreateTenant(f.ctx, name, true)
		if err != nil {
			t.Fatal(err)
		}
		tenants = append(tenants, ten.ID)
	}
	src := sources.NewStore(f.pool)
	base := at(t, "UTC", "2024-03-01 00:00")
	n := 0
	for ti, tenant := range tenants {
		svc := NewService(f.pool, f.svc.resolver, f.svc.readings, w.tariffs, Config{})
		for c := range 4 {
			zone := zones[(ti+c)%len(zones)]
			box := fmt.Sprintf("CB-%d-%d", ti, c)
			boxSrc, err := src.Create(f.ctx, tenant, sources.NewSource{ExternalID: box, Kind: sources.KindCharger, Timezone: zone})
			if err != nil {
				t.Fatal(err)
			}
			// Some connectors are left at UTC: their charge box's zone
			// applies to a tariff without its own.
			connZone := zone
			if c%2 == 1 {
				connZone = "UTC"
			}
			conn, err := src.Create(f.ctx, tenant, sources.NewSource{ExternalID: box + "/1", Kind: sources.KindConnector,
				Timezone: connZone, Parent: &box})
			if err != nil {
				t.Fatal(err)
			}
			switch rng.IntN(4) {
			case 0: // none: the session fails, with the reason
			case 1: // on the charge box
				w.tariffs.bySrc[boxSrc.ID] = choices[rng.IntN(len(choices))]
			default:
				w.tariffs.bySrc[conn.ID] = choices[rng.IntN(len(choices))]
			}
			slot := base
			for k := range perConnector {
				start := slot.Add(time.Duration(rng.IntN(600)) * time.Minute).Truncate(time.Second)
				length := time.Duration(20+rng.IntN(200)) * time.Minute
				stop := start.Add(length)
				slot = stop.Add(time.Duration(60+rng.IntN(3000)) * time.Minute)
				kw := 3 + rng.Float64()*40
				var energy, power []Sample
				wh := 1000 * float64(rng.IntN(50))
				// Readings every 5 minutes from before the start to after
				// the stop; the car stops drawing a while before the end.
				full := start.Add(length * time.Duration(50+rng.IntN(50)) / 100)
				for t0 := start.Add(-5 * time.Minute); !t0.After(stop.Add(5 * time.Minute)); t0 = t0.Add(5 * time.Minute) {
					p := kw * 1000
					if t0.After(full) || t0.Before(start) {
						p = 0
					}
					energy, power = append(energy, Sample{t0, wh}), append(power, Sample{t0, p})
					wh += p / 12
				}
				meterStart, meterStop := energy[1].Value, energy[len(energy)-2].Value
				if rng.IntN(5) > 0 {
					f.readings(conn.ID, "energy_import", energy)
					f.readings(conn.ID, "power_import", power)
				}
				s, _, err := svc.Start(f.ctx, tenant, NewSession{Source: conn.ExternalID, ExternalID: fmt.Sprintf("s-%d-%d", c, k),
					StartTime: start, MeterStart: &meterStart, IDTag: fmt.Sprintf("TAG%d", rng.IntN(3))})
				if err != nil {
					t.Fatal(err)
				}
				s, err = svc.Stop(f.ctx, tenant, s.PublicID, StopSession{StopTime: stop, MeterStop: &meterStop})
				if err != nil {
					t.Fatal(err)
				}
				w.sessions = append(w.sessions, s)
				n++
			}
		}
	}
	return w
}

// service is a pricing service on the world's tariffs, pricing every
// session in one batch.
func (w *batchWorld) service(src TariffSource) *Service {
	return NewService(w.f.pool, w.f.svc.resolver, w.f.svc.readings, src, Config{Batch: 1000})
}

// stored reads a session by internal id, in full.
func (w *batchWorld) stored(t *testing.T, id int64) Session {
	t.Helper()
	s, err := w.f.svc.store.getByID(w.f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decText(d decimal.NullDecimal) string {
	if !d.Valid {
		return "null"
	}
	return d.Decimal.String()
}

// TestBatchPricesAsOneAtATime prices generated sessions of three tenants,
// on connectors in four zones (some read in their charge box's), with
// tariffs in their own zone, in the station's, assigned to connectors, to
// charge boxes, or not at all — in one batch, through a tariff source that
// answers one query at a time and through one that answers the batch at
// once. Every session is stored exactly as Service.compute, the
// one-at-a-time path, prices it: status, reason, totals, itemised price and
// CDR. Each tenant's new versions follow one another in updated_at order.
func TestBatchPricesAsOneAtATime(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"one query at a time", "batch lookup"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			w := newBatchWorld(t, f, uint64(len(mode)), 4)
			var src TariffSource = w.tariffs
			if mode == "batch lookup" {
				src = batchTariffs{w.tariffs}
			}
			svc := w.service(src)
			want := make([]Pricing, len(w.sessions))
			for i := range w.sessions {
				s := w.sessions[i]
				p, err := svc.compute(f.ctx, &s, *s.StopTime)
				if err != nil {
					t.Fatal(err)
				}
				want[i] = p
			}
			n, err := svc.PricePending(f.ctx)
			if err != nil || n != len(w.sessions) {
				t.Fatalf("one batch: %d claimed of %d, err %v", n, len(w.sessions), err)
			}
			statuses := map[Status]int{}
			for i, s0 := range w.sessions {
				s, p := w.stored(t, s0.ID), want[i]
				statuses[s.Status]++
				if s.Status != p.Status || s.FailureReason != p.FailureReason || s.TariffRef != p.TariffRef || s.Currency != p.Currency ||
					decText(s.EnergyKWh) != decText(p.EnergyKWh) || decText(s.ChargingHours) != decText(p.ChargingHours) ||
					decText(s.ParkingHours) != decText(p.ParkingHours) || decText(s.TotalExclVAT) != decText(p.TotalExclVAT) ||
					decText(s.TotalInclVAT) != decText(p.TotalInclVAT) || string(s.Price) != string(p.Price) {
					t.Errorf("session %d (%s): stored %s %q %s %s total %s/%s, one at a time %s %q %s %s total %s/%s", i, s.PublicID,
						s.Status, s.FailureReason, s.TariffRef, decText(s.EnergyKWh), decText(s.TotalExclVAT), decText(s.TotalInclVAT),
						p.Status, p.FailureReason, p.TariffRef, decText(p.EnergyKWh), decText(p.TotalExclVAT), decText(p.TotalInclVAT))
					continue
				}
				if p.Status != StatusPriced {
					if s.CDR != nil || s.PriceCount != 0 {
						t.Errorf("session %d failed but has a CDR or a price count %d", i, s.PriceCount)
					}
					continue
				}
				cdr, err := p.CDR(*s.PricedAt, 1)
				if err != nil {
					t.Fatal(err)
				}
				if string(s.CDR) != string(cdr) || s.PriceCount != 1 || !s.PricedAt.Equal(s.UpdatedAt) {
					t.Errorf("session %d: CDR, count %d or priced_at differ from one at a time:\n%s\n%s", i, s.PriceCount, s.CDR, cdr)
				}
			}
			if statuses[StatusPriced] < len(w.sessions)/3 || statuses[StatusFailed] == 0 {
				t.Errorf("statuses %v: the generated sessions do not cover pricing and failing", statuses)
			}
			// The billing pull's order: within a tenant, updated_at rises
			// with change_seq.
			rows, err := f.pool.Query(f.ctx, `SELECT tenant_id, change_seq, updated_at FROM sessions ORDER BY tenant_id, change_seq`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var lastTenant, lastSeq int64
			var lastAt time.Time
			for rows.Next() {
				var ten, seq int64
				var at time.Time
				if err := rows.Scan(&ten, &seq, &at); err != nil {
					t.Fatal(err)
				}
				if ten == lastTenant && !at.After(lastAt) {
					t.Errorf("tenant %d: change %d at %s is not after change %d at %s", ten, seq, at, lastSeq, lastAt)
				}
				lastTenant, lastSeq, lastAt = ten, seq, at
			}
		})
	}
}

// TestBatchLeavesASessionChangedMeanwhile: a session that changes after
// the batch read it — here, while its tariff is looked up — keeps its new
// version: the batch's result for the old one is not stored, the session
// stays completed for the next round, and the rest of the batch is priced.
// The next round prices the new version.
func TestBatchLeavesASessionChangedMeanwhile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := newBatchWorld(t, f, 3, 2)
	for _, s := range w.sessions {
		if s.SourceID != nil {
			w.tariffs.bySrc[*s.SourceID] = assigned{testTariff(t, "UTC", parkingTariff), "tar_p@1"}
		}
	}
	victim := w.sessions[len(w.sessions)/2]
	var once sync.Once
	w.tariffs.before = func(sourceID int64) {
		if sourceID != *victim.SourceID {
			return
		}
		once.Do(func() {
			err := f.svc.store.write(f.ctx, victim.TenantID, func(tx *Tx) error {
				s, _, err := tx.lock(f.ctx, `s.id = $2`, victim.ID)
				if err != nil {
					return err
				}
				s.StopReason = "Remote"
				return tx.update(f.ctx, &s)
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	svc := w.service(w.tariffs)
	if n, err := svc.PricePending(f.ctx); err != nil || n != len(w.sessions) {
		t.Fatalf("first round: %d claimed, err %v", n, err)
	}
	got := w.stored(t, victim.ID)
	if got.Status != StatusCompleted || got.StopReason != "Remote" || got.Price != nil || got.Version == victim.Version {
		t.Fatalf("the changed session: %s, stop reason %q, price %s, version %d (was %d); want it completed at its new version, unpriced",
			got.Status, got.StopReason, got.Price, got.Version, victim.Version)
	}
	for _, s := range w.sessions {
		if s.ID != victim.ID {
			if st := w.stored(t, s.ID).Status; st != StatusPriced {
				t.Errorf("session %s: %s, want priced", s.PublicID, st)
			}
		}
	}
	if n, err := svc.PricePending(f.ctx); err != nil || n != 1 {
		t.Fatalf("second round: %d claimed, err %v; want the changed session", n, err)
	}
	if got := w.stored(t, victim.ID); got.Status != StatusPriced || got.StopReason != "Remote" {
		t.Errorf("after the second round: %s %q", got.Status, got.StopReason)
	}
}

// TestBatchStoreChecksVersions: storePricings stores nothing on a session
// whose version moved since it was priced, and stores the others of the
// same write.
func TestBatchStoreChecksVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := newBatchWorld(t, f, 5, 1)
	svc := w.service(batchTariffs{w.tariffs})
	var rs []pricingResult
	tenant := w.sessions[0].TenantID
	for i := range w.sessions {
		s := w.sessions[i]
		if s.TenantID != tenant {
			continue
		}
		p, err := svc.compute(f.ctx, &s, *s.StopTime)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, pricingResult{id: s.ID, version: s.Version, cur: &w.sessions[i], p: p})
	}
	if len(rs) < 2 {
		t.Fatalf("%d sessions of the first tenant", len(rs))
	}
	if _, err := f.pool.Exec(f.ctx, `UPDATE sessions SET change_seq = nextval('session_changes') WHERE id = $1`, rs[0].id); err != nil {
		t.Fatal(err)
	}
	errs, err := svc.store.storePricings(f.ctx, tenant, rs)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != errStale {
		t.Errorf("the moved session: %v, want errStale", errs[0])
	}
	if s := w.stored(t, rs[0].id); s.Status != StatusCompleted {
		t.Errorf("the moved session was overwritten: %s", s.Status)
	}
	for i, r := range rs[1:] {
		if errs[i+1] != nil {
			t.Errorf("session %d: %v", r.id, errs[i+1])
		}
		if s := w.stored(t, r.id); s.Status != r.p.Status || s.Version == r.version {
			t.Errorf("session %d: %s at version %d, want %s at a new version", r.id, s.Status, s.Version, r.p.Status)
		}
	}
}

// TestBatchFailureIsTheSessionsOwn: a session whose pricing panics fails
// alone — its attempt is counted and it stays completed for a retry —
// while the rest of its batch is priced.
func TestBatchFailureIsTheSessionsOwn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := newBatchWorld(t, f, 9, 2)
	for _, s := range w.sessions {
		w.tariffs.bySrc[*s.SourceID] = assigned{testTariff(t, "UTC", parkingTariff), "tar_p@1"}
	}
	victim := w.sessions[1]
	w.tariffs.before = func(sourceID int64) {
		if sourceID == *victim.SourceID {
			panic("tariff lookup of one connector blew up")
		}
	}
	svc := w.service(w.tariffs)
	n, err := svc.PricePending(f.ctx)
	if n != len(w.sessions) || err == nil || !strings.Contains(err.Error(), "blew up") {
		t.Fatalf("round: %d claimed, err %v; want all and the panic", n, err)
	}
	for _, s := range w.sessions {
		got := w.stored(t, s.ID)
		attempts, _ := f.attempts(s.PublicID)
		switch {
		case *s.SourceID == *victim.SourceID:
			if got.Status != StatusCompleted || attempts != 1 {
				t.Errorf("the failing session %s: %s with %d attempts, want completed with 1", s.PublicID, got.Status, attempts)
			}
		case got.Status != StatusPriced || attempts != 0:
			t.Errorf("session %s: %s with %d attempts, want priced", s.PublicID, got.Status, attempts)
		}
	}
}
