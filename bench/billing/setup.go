package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/sessions"
	"github.com/gridmetrics/gridmetrics/sources"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// benchZone is where the chargers stand; the tariff's time-of-use windows
// are read in it.
const benchZone = "Europe/Berlin"

// benchTariff is a time-of-use charging tariff: 0.45 a session, 0.54/kWh
// from 08:00 to 20:00 and 0.39/kWh otherwise, 0.06/min parked after
// charging (billed per minute), 19 % VAT.
const benchTariff = `{"country_code":"DE","party_id":"GMB","id":"bench-charging","currency":"EUR","start_date_time":%q,
  "elements":[
    {"price_components":[{"type":"FLAT","price":0.45,"vat":19,"step_size":1}]},
    {"price_components":[{"type":"ENERGY","price":0.54,"vat":19,"step_size":1}],"restrictions":{"start_time":"08:00","end_time":"20:00"}},
    {"price_components":[{"type":"ENERGY","price":0.39,"vat":19,"step_size":1}]},
    {"price_components":[{"type":"PARKING_TIME","price":3.60,"vat":19,"step_size":60}]}],
  "gridmetrics":{"kind":"charging","timezone":"` + benchZone + `"}}`

// tenant creates the tenant and its billing key.
func tenant(ctx context.Context, pool *pgxpool.Pool) (int64, string, error) {
	st := auth.NewStore(pool)
	t, err := st.CreateTenant(ctx, "bench-billing", false)
	if err != nil {
		return 0, "", err
	}
	_, key, err := st.CreateAPIKey(ctx, t.ID, "bench-billing", []auth.Scope{auth.ScopeBilling})
	if err != nil {
		return 0, "", err
	}
	return t.ID, key, nil
}

// createSources registers n chargers, ten to a site, each with one
// connector, through sources.Store, and returns the connectors' ids.
func createSources(ctx context.Context, pool *pgxpool.Pool, tenantID int64, n int) ([]int64, error) {
	st := sources.NewStore(pool)
	ids := make([]int64, n)
	for c := range n {
		site := fmt.Sprintf("bench-site-%03d", c/10+1)
		box := chargerID(c)
		meta, _ := json.Marshal(map[string]string{"location_id": site, "location_name": "Bench depot " + site,
			"address": fmt.Sprintf("Ladestraße %d", c/10+1), "city": "Berlin", "postal_code": "10115", "country": "DEU"})
		if _, err := st.Create(ctx, tenantID, sources.NewSource{ExternalID: box, Kind: sources.KindCharger,
			Name: "Charger " + box, SiteID: &site, Timezone: benchZone, Metadata: meta}); err != nil {
			return nil, fmt.Errorf("charger %s: %w", box, err)
		}
		conn, err := st.Create(ctx, tenantID, sources.NewSource{ExternalID: connectorID(c), Kind: sources.KindConnector,
			Timezone: benchZone, Parent: &box})
		if err != nil {
			return nil, fmt.Errorf("connector %s: %w", connectorID(c), err)
		}
		ids[c] = conn.ID
	}
	return ids, nil
}

// createTariff stores the charging tariff, valid from from, and assigns it
// to every connector.
func createTariff(ctx context.Context, pool *pgxpool.Pool, tenantID int64, from time.Time, connectors int) (string, error) {
	t, err := tariffs.ParseTariff(fmt.Appendf(nil, benchTariff, from.UTC().Format(time.RFC3339)))
	if err != nil {
		return "", err
	}
	st := tariffs.NewStore(pool)
	stored, err := st.Create(ctx, tenantID, t)
	if err != nil {
		return "", err
	}
	for c := range connectors {
		if _, err := st.Assign(ctx, tenantID, stored.PublicID, tariffs.NewAssignment{SourceID: connectorID(c), ValidFrom: &from}); err != nil {
			return "", fmt.Errorf("assign %s to %s: %w", stored.PublicID, connectorID(c), err)
		}
	}
	return stored.PublicID, nil
}

// createSessions starts and stops every planned session through the
// sessions service (Service.Start, Service.Stop, as POST /v1/sessions and
// /v1/sessions/{id}/stop do), from writers goroutines. The service has no
// worker: the sessions stay completed until the server prices them.
func createSessions(ctx context.Context, pool *pgxpool.Pool, tenantID int64, plans []plan, writers int, progress func(done int)) error {
	svc := sessions.NewService(pool, sources.NewResolver(sources.NewStore(pool)), nil, sessions.NoTariffs, sessions.Config{})
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
		once       sync.Once
		first      error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		once.Do(func() { first = err; cancel() })
	}
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				k := int(next.Add(1)) - 1
				if k >= len(plans) {
					return
				}
				p := &plans[k]
				meterStart, meterStop := p.meterStart, p.meterStop
				s, _, err := svc.Start(ctx, tenantID, sessions.NewSession{Source: connectorID(p.connector), ExternalID: externalID(k),
					IDTag: p.idTag, StartTime: p.start, MeterStart: &meterStart})
				if err != nil {
					fail(fmt.Errorf("start session %d: %w", k, err))
					return
				}
				if _, err := svc.Stop(ctx, tenantID, s.PublicID, sessions.StopSession{StopTime: p.stop, MeterStop: &meterStop,
					Reason: "EVDisconnected"}); err != nil {
					fail(fmt.Errorf("stop session %d: %w", k, err))
					return
				}
				if n := done.Add(1); progress != nil && n%10_000 == 0 {
					progress(int(n))
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
