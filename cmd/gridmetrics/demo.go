package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/sessions"
	"github.com/gridmetrics/gridmetrics/sites"
	"github.com/gridmetrics/gridmetrics/sources"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// The demo depot: a grid meter, a dozen chargers with one connector each,
// and a day-ahead price feed, in Berlin.
const (
	demoSite     = "demo-depot"
	demoZone     = "Europe/Berlin"
	demoChargers = 12
	demoPlug     = "PLUG-1"
	demoDays     = 7
)

// demoSession is one charging session the demo generates: charging at a
// constant power, then parked.
type demoSession struct {
	connector     string
	start, stopAt time.Time // stopAt: charging ends; the car leaves at leave
	leave         time.Time
	powerW        float64
	meterStartWh  float64
	meterStopWh   float64
}

// loadDemo fills an empty demo tenant with a week of readings (through the
// real ingest pipeline), a time-of-use charging tariff on the connectors and
// a supply tariff on the grid meter. It returns the sessions it simulated,
// or nil when the tenant already had sources.
func loadDemo(ctx context.Context, pool *pgxpool.Pool, tenantID int64, now time.Time, log *slog.Logger) ([]demoSession, error) {
	srcStore := sources.NewStore(pool)
	if _, total, err := srcStore.List(ctx, tenantID, sources.Filter{}, pageOfOne); err != nil || total > 0 {
		return nil, err
	}
	loc, err := time.LoadLocation(demoZone)
	if err != nil {
		return nil, err
	}
	if _, err := sites.NewStore(pool).Create(ctx, tenantID, demoDepot()); err != nil {
		return nil, fmt.Errorf("demo site: %w", err)
	}
	site, grid := demoSite, "GRID-1"
	newSources := []sources.NewSource{
		{ExternalID: "GRID-1", Kind: sources.KindMeter, Name: "Grid connection", SiteID: &site, Timezone: demoZone},
		{ExternalID: "EPEX-DE", Kind: sources.KindPriceFeed, Name: "Day-ahead price", Timezone: demoZone},
		// A smart plug behind the grid meter, for the README's MQTT example
		// (Tasmota sends Berlin time); as a sub-meter it is not counted
		// again in the site's energy.
		{ExternalID: demoPlug, Kind: sources.KindMeter, Name: "Workshop plug (Tasmota)", SiteID: &site, Timezone: demoZone, Parent: &grid},
	}
	for i := 1; i <= demoChargers; i++ {
		box := fmt.Sprintf("CB-%04d", i)
		newSources = append(newSources,
			sources.NewSource{ExternalID: box, Kind: sources.KindCharger, Name: fmt.Sprintf("Charger %d", i), SiteID: &site, Timezone: demoZone,
				Connector: demoConnector()},
			sources.NewSource{ExternalID: box + "/1", Kind: sources.KindConnector, SiteID: &site, Timezone: demoZone, Parent: &box,
				Connector: demoConnector()})
	}
	for _, n := range newSources {
		if _, err := srcStore.Create(ctx, tenantID, n); err != nil {
			return nil, fmt.Errorf("demo source %s: %w", n.ExternalID, err)
		}
	}

	end := now.Truncate(time.Minute).Add(-time.Minute)
	start := time.Date(end.Year(), end.Month(), end.Day()-demoDays, 0, 0, 0, 0, loc)
	rows, sessions := demoReadings(start, end, loc)
	resolver := sources.NewResolver(srcStore)
	ingestSvc, closeIngest, err := demoIngest(ctx, pool, srcStore, resolver)
	if err != nil {
		return nil, err
	}
	defer closeIngest()
	if err := ingestDemo(ctx, ingestSvc, tenantID, rows, log); err != nil {
		return nil, err
	}
	if err := demoTariffs(ctx, pool, tenantID, start); err != nil {
		return nil, err
	}
	if err := demoSessions(ctx, pool, resolver, ingestSvc, tenantID, sessions); err != nil {
		return nil, err
	}
	return sessions, nil
}

var pageOfOne = api.PageRequest{Page: 1, Limit: 1}

// demoDepot is the depot's site, with everything a CDR's location needs.
func demoDepot() sites.NewSite {
	text := func(s string) *string { return &s }
	return sites.NewSite{ID: demoSite, Name: "Gridmetrics demo depot",
		Address: text("Wolfener Straße 36"), City: text("Berlin"), PostalCode: text("12681"), State: text("Berlin"),
		Country: text("DEU"), Coordinates: &sites.Coordinates{Latitude: "52.538110", Longitude: "13.548260"},
		TimeZone: demoZone, Operator: &sites.Operator{Name: "Gridmetrics Demo Charging", Website: text("https://charging.example.com")},
		OCPILocationID: text("LOC-DEMO-DEPOT")}
}

// demoConnector is a 22 kW Type 2 socket on three phases, the most common
// public AC point in Germany: what the demo's chargers and their
// connectors are (each session charges at 7.4, 11 or 22 kW).
func demoConnector() *sources.Connector {
	text := func(s string) *string { return &s }
	number := func(n int) *int { return &n }
	return &sources.Connector{Standard: text("IEC_62196_T2"), Format: text("SOCKET"), PowerType: text("AC_3_PHASE"),
		MaxVoltage: number(400), MaxAmperage: number(32), MaxElectricPower: number(22000)}
}

// demoReadings simulates the depot minute by minute: each connector has a
// morning and an afternoon session most days, the grid meter sees the
// chargers plus the building's load, and the feed has hourly prices.
func demoReadings(start, end time.Time, loc *time.Location) ([]ingest.Row, []demoSession) {
	rng := rand.New(rand.NewPCG(42, 7))
	var sessions []demoSession
	for c := 1; c <= demoChargers; c++ {
		conn := fmt.Sprintf("CB-%04d/1", c)
		for day := start; day.Before(end); day = day.AddDate(0, 0, 1) {
			for _, window := range [][2]int{{7, 3}, {13, 4}} { // start hour, spread
				if rng.IntN(5) == 0 {
					continue // no car this time
				}
				s := day.Add(time.Duration(window[0])*time.Hour + time.Duration(rng.IntN(window[1]*60))*time.Minute)
				charge := time.Duration(60+rng.IntN(150)) * time.Minute
				parked := time.Duration(rng.IntN(70)) * time.Minute
				sess := demoSession{connector: conn, start: s, stopAt: s.Add(charge), leave: s.Add(charge + parked),
					powerW: []float64{7400, 11000, 22000}[rng.IntN(3)]}
				if sess.leave.Before(end) {
					sessions = append(sessions, sess)
				}
			}
		}
	}

	var rows []ingest.Row
	add := func(src, metric string, at time.Time, v float64) {
		rows = append(rows, ingest.Row{Index: len(rows), Source: src, Metric: metric, Time: at, Value: math.Round(v*10) / 10})
	}
	registers := map[string]float64{"GRID-1": 4_200_000}
	for c := 1; c <= demoChargers; c++ {
		registers[fmt.Sprintf("CB-%04d/1", c)] = float64(100_000 * c)
	}
	for at := start; !at.After(end); at = at.Add(time.Minute) {
		grid := 15_000 + 6_000*math.Sin(2*math.Pi*(float64(at.In(loc).Hour())-9)/24) + 800*rng.Float64()
		for c := 1; c <= demoChargers; c++ {
			conn := fmt.Sprintf("CB-%04d/1", c)
			p := 0.0
			for i := range sessions {
				s := &sessions[i]
				if s.connector != conn {
					continue
				}
				if at.Equal(s.start) {
					s.meterStartWh = registers[conn]
				}
				if !at.Before(s.start) && at.Before(s.stopAt) {
					p = s.powerW * (0.97 + 0.03*rng.Float64())
				}
				if at.Equal(s.stopAt) {
					s.meterStopWh = registers[conn]
				}
			}
			add(conn, "power_import", at, p)
			add(conn, "energy_import", at, registers[conn])
			registers[conn] += p / 60
			grid += p
		}
		add("GRID-1", "power_import", at, grid)
		add("GRID-1", "energy_import", at, registers["GRID-1"])
		registers["GRID-1"] += grid / 60
		if at.Minute() == 0 {
			h := float64(at.In(loc).Hour())
			price := 0.11 + 0.06*math.Exp(-math.Pow(h-8, 2)/4) + 0.09*math.Exp(-math.Pow(h-19, 2)/5) + 0.02*rng.Float64()
			rows = append(rows, ingest.Row{Index: len(rows), Source: "EPEX-DE", Metric: "price", Unit: "EUR/kWh", Time: at, Value: math.Round(price*1e4) / 1e4})
		}
	}
	return rows, sessions
}

// demoIngest starts an ingest pipeline of the demo's own.
func demoIngest(ctx context.Context, pool *pgxpool.Pool, srcStore *sources.Store, resolver *sources.Resolver) (*ingest.Service, func(), error) {
	metrics, err := srcStore.Metrics(ctx)
	if err != nil {
		return nil, nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	im := ingest.NewMetrics(nil)
	p := ingest.NewPipeline(pool, ingest.PipelineConfig{}, quiet, im, nil)
	svc := &ingest.Service{Pipeline: p, Resolver: resolver, Catalog: ingest.NewCatalog(metrics),
		Limits: ingest.Limits{}.WithDefaults(), Metrics: im}
	return svc, func() { _ = p.Close(context.Background()) }, nil
}

// ingestDemo writes rows through the ingest pipeline in request-sized
// slices, as clients would.
func ingestDemo(ctx context.Context, svc *ingest.Service, tenantID int64, rows []ingest.Row, log *slog.Logger) error {
	const chunk = 5000
	for i := 0; i < len(rows); i += chunk {
		batch := rows[i:min(i+chunk, len(rows))]
		res, err := svc.Ingest(ctx, tenantID, batch, nil, nil)
		if err != nil {
			return fmt.Errorf("demo readings: %w", err)
		}
		if len(res.Rejected) > 0 {
			return fmt.Errorf("demo readings: row %d rejected: %s", res.Rejected[0].Index, res.Rejected[0].Message)
		}
	}
	log.Info("demo readings written", "rows", len(rows))
	return nil
}

// demoChargingTariff is a time-of-use charging tariff: 0.49/kWh from 07:00
// to 22:00 and 0.35/kWh at night, 6.00/h parked after charging, and 0.50 a
// session.
const demoChargingTariff = `{"country_code":"DE","party_id":"GMX","id":"demo-charging","currency":"EUR","start_date_time":%q,
  "elements":[
    {"price_components":[{"type":"FLAT","price":0.50,"vat":19,"step_size":1}]},
    {"price_components":[{"type":"ENERGY","price":0.49,"vat":19,"step_size":1}],"restrictions":{"start_time":"07:00","end_time":"22:00"}},
    {"price_components":[{"type":"ENERGY","price":0.35,"vat":19,"step_size":1}]},
    {"price_components":[{"type":"PARKING_TIME","price":6.00,"vat":19,"step_size":300}]}],
  "gridmetrics":{"kind":"charging","timezone":"Europe/Berlin"}}`

// demoSupplyTariff is the depot's supply contract: the day-ahead price plus
// 0.12/kWh, 1.20 a day and 8.00 per kW of the month's peak quarter hour.
const demoSupplyTariff = `{"country_code":"DE","party_id":"GMX","id":"demo-supply","currency":"EUR","start_date_time":%q,
  "elements":[
    {"price_components":[{"type":"ENERGY","price":0,"vat":19,"step_size":0,
      "gridmetrics":{"price_feed":"EPEX-DE","multiplier":1,"markup":0.12}}]},
    {"price_components":[{"type":"STANDING","price":1.20,"vat":19,"step_size":0}]},
    {"price_components":[{"type":"DEMAND","price":8.00,"vat":19,"step_size":0}]}],
  "gridmetrics":{"kind":"supply","timezone":"Europe/Berlin"}}`

func demoTariffs(ctx context.Context, pool *pgxpool.Pool, tenantID int64, from time.Time) error {
	st := tariffs.NewStore(pool)
	since := from.UTC().Format(time.RFC3339)
	store := func(doc string, assignees ...string) error {
		t, err := tariffs.ParseTariff([]byte(fmt.Sprintf(doc, since)))
		if err != nil {
			return err
		}
		stored, err := st.Create(ctx, tenantID, t)
		if err != nil {
			return err
		}
		for _, src := range assignees {
			validFrom := from
			if _, err := st.Assign(ctx, tenantID, stored.PublicID, tariffs.NewAssignment{SourceID: src, ValidFrom: &validFrom}); err != nil {
				return fmt.Errorf("assign %s to %s: %w", stored.PublicID, src, err)
			}
		}
		return nil
	}
	var connectors []string
	for c := 1; c <= demoChargers; c++ {
		connectors = append(connectors, fmt.Sprintf("CB-%04d/1", c))
	}
	if err := store(demoChargingTariff, connectors...); err != nil {
		return fmt.Errorf("demo charging tariff: %w", err)
	}
	if err := store(demoSupplyTariff, "GRID-1"); err != nil {
		return fmt.Errorf("demo supply tariff: %w", err)
	}
	return nil
}

// demoSummary describes what the demo holds, for the person who ran it.
func demoSummary(sessions []demoSession) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Demo depot %q: grid meter GRID-1 (with the smart plug %s behind it), chargers CB-0001…CB-%04d (connectors …/1), price feed EPEX-DE;\n", demoSite, demoPlug, demoChargers)
	fmt.Fprintf(&b, "%d days of minute readings, %d charging sessions, a time-of-use charging tariff and a supply tariff.\n", demoDays, len(sessions))
	return b.String()
}

// demoSessions records the simulated sessions through the sessions service
// (start, then stop when the car leaves) and prices them all, so the
// billing pull has something real to serve.
func demoSessions(ctx context.Context, pool *pgxpool.Pool, resolver *sources.Resolver, readings *ingest.Service, tenantID int64, list []demoSession) error {
	svc := sessions.NewService(pool, resolver, readings, assignedTariffs{tariffs.NewStore(pool), tariffs.NewCache(0)},
		sessions.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for i, s := range list {
		start, stop := s.meterStartWh, s.meterStopWh
		started, _, err := svc.Start(ctx, tenantID, sessions.NewSession{Source: s.connector, ExternalID: fmt.Sprintf("demo-%d", i+1),
			IDTag: fmt.Sprintf("RFID-%04d", i%40), StartTime: s.start, MeterStart: &start})
		if err != nil {
			return fmt.Errorf("demo session %d: %w", i+1, err)
		}
		if _, err := svc.Stop(ctx, tenantID, started.PublicID, sessions.StopSession{StopTime: s.leave, MeterStop: &stop, Reason: "EVDisconnected"}); err != nil {
			return fmt.Errorf("demo session %d: %w", i+1, err)
		}
	}
	for {
		n, err := svc.PricePending(ctx)
		if err != nil {
			return fmt.Errorf("price demo sessions: %w", err)
		}
		if n == 0 {
			return nil
		}
	}
}
