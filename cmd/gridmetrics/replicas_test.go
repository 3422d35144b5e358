//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/rollups"
	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// Replicas behind a load balancer (DESIGN §11, docs/replicas.md): three
// service processes share one database behind HAProxy, each running the
// rollup jobs, the pricing worker and an MQTT subscription. Traffic of
// every kind goes through the balancer; the replicas must then agree as
// one service would: each rollup span computed once, each session priced
// once, each MQTT message ingested once, a change made through one
// replica seen by the others, and a replica killed mid-load losing
// nothing it acknowledged.

const replicaCount = 3

// noticeLimit bounds how long a replica may take to hear of a change made
// through another (a notification's delivery takes milliseconds).
const noticeLimit = 2 * time.Second

// replicaCluster is the shared harness: a database with the tenants of
// mqttEnv (acme auto-registers, other does not), a broker, the replicas
// and the balancer.
type replicaCluster struct {
	t        *testing.T
	env      *mqttEnv
	dbURL    string
	args     [][]string // each replica's arguments, to start it again alike
	replicas []*serverProcess
	started  []*serverProcess // every replica process, the killed ones too
	lb       *balancer
	key      string // acme: ingest, read, billing, admin
	admin    client // acme through the balancer
	// rollupsFrom is where every tier's watermark stood at the start: the
	// refreshes of all replicas together must advance it exactly once.
	rollupsFrom time.Time
}

// replicaArgs are replica i's settings: the broker (its own client id,
// the shared subscription group by default), the balancer trusted for
// X-Forwarded-For, and short job schedules so that the rollups and the
// pricing worker run many times during the test.
func replicaArgs(env *mqttEnv, i int) []string {
	return append(env.serviceArgs(fmt.Sprintf("gm-replica-%d", i)),
		"--trusted-proxies", "127.0.0.1/32",
		"--auth-failure-limit", "10", "--auth-failure-window", "1m",
		"--rollup-lateness", "1m", "--ingest-invalidation-horizon", "30s",
		"--rollup-spec-15m", "@every 1s", "--rollup-spec-1h", "@every 1s", "--rollup-spec-1d", "@every 1s",
		"--rollup-invalidation-spec", "@every 1s",
		"--session-poll-interval", "200ms",
		"--db-max-conns", "12")
}

func startReplicaCluster(t *testing.T) *replicaCluster {
	t.Helper()
	c := &replicaCluster{t: t, dbURL: dbtest.NewURL(t)}
	c.env = newMQTTEnvOn(t, c.dbURL)
	c.key = c.env.key(c.env.acme, "ingest,read,billing,admin")

	// The rollup tiers start computed up to yesterday's midnight, as on a
	// database with history: from there each tier's refresh has a day or
	// more to do while the replicas compete for it.
	c.rollupsFrom = time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	ctx, conn := c.connect(t, 10*time.Second)
	for _, tier := range rollups.Tiers {
		if _, err := conn.Exec(ctx, `INSERT INTO rollup_watermarks (tier, watermark) VALUES ($1, $2)`, tier.Name, c.rollupsFrom); err != nil {
			t.Fatal(err)
		}
	}

	// Started together, so that their rollup jobs compete from the first
	// tick for the day and more of refreshes waiting.
	for i := range replicaCount {
		args := replicaArgs(c.env, i+1)
		c.args = append(c.args, args)
		c.replicas = append(c.replicas, launchServerProcess(t, c.dbURL, args...))
	}
	c.started = append(c.started, c.replicas...)
	var addrs []string
	for _, p := range c.replicas {
		p.waitReady()
		addrs = append(addrs, strings.TrimPrefix(p.base, "http://"))
	}
	c.lb = startBalancer(t, addrs)
	c.admin = client{t, c.lb.base, c.key}
	return c
}

// direct is a client of replica i (0-based), not through the balancer.
func (c *replicaCluster) direct(t *testing.T, i int, key string) client {
	return client{t, c.replicas[i].base, key}
}

// sumMetric adds one sample of /metrics over the replicas, and returns
// each one's value too.
func (c *replicaCluster) sumMetric(t *testing.T, sample string) (sum float64, each []float64) {
	t.Helper()
	for _, p := range c.replicas {
		v := metricValue(t, p.base, sample)
		sum += v
		each = append(each, v)
	}
	return sum, each
}

// TestReplicas starts the cluster once for its subtests, which run in
// order: the last one kills a replica.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes, a broker and HAProxy")
	}
	if dbtest.SchemaIsolation() {
		t.Skip("the TimescaleDB harness serves one connection: three replicas cannot share it")
	}
	t.Parallel()
	began := time.Now()
	c := startReplicaCluster(t)
	t.Logf("three replicas, a broker and HAProxy ready in %s", time.Since(began).Round(time.Millisecond))

	t.Run("traffic", func(t *testing.T) { c.testTraffic(t) })
	t.Run("caches", func(t *testing.T) { c.testCaches(t) })
	t.Run("client address", func(t *testing.T) { c.testClientAddress(t) })
	t.Run("charger moves", func(t *testing.T) { c.testChargerMoves(t) })
	t.Run("kill", func(t *testing.T) { c.testKill(t) })
	// Two replicas refreshing a tier at once (the advisory lock failing)
	// would not show in the committed spans: the second one's watermark
	// update finds the watermark moved and its job fails, rolled back. So
	// no process may have logged a failed rollup job.
	for _, p := range c.started {
		if strings.Contains(p.logs.String(), "rollup job failed") {
			t.Errorf("a replica logged a failed rollup job:\n%s", p.logs)
		}
	}
}

// testTraffic sends HTTP ingest, OCPP-J charge points (through the
// balancer's WebSocket), OCPP transactions over HTTP and MQTT messages at
// once, then checks that the replicas did each piece of shared work once.
func (c *replicaCluster) testTraffic(t *testing.T) {
	se := sessionEnv{t: t, base: c.lb.base, admin: c.admin}
	const pw16, pw201 = "secret-of-cb-j16-aaaa", "secret-of-cs-j201-bbbb"
	ocppEnv{t: t}.chargeBox(c.admin, "CB-J16", pw16)
	ocppEnv{t: t}.chargeBox(c.admin, "CS-J201", pw201)
	tariff := se.assignTariff("", "CB-J16")
	se.assignTariff(tariff, "CS-J201")
	httpBoxes := []string{"CB-H1", "CB-H2", "CB-H3", "CB-H4"}
	for _, box := range httpBoxes {
		se.charger(box)
		se.assignTariff(tariff, box)
	}

	// In the background: readings over HTTP and devices over MQTT.
	load := startLoad(c.lb.base, c.key, "lb", 3, 50)
	defer load.finish()
	mq := startMQTTLoad(t, c.env, "mq", replicaCount, 40, 5*time.Millisecond)
	defer mq.finish()

	// Charge points of both OCPP versions through the balancer.
	endpoint := strings.Replace(c.lb.base, "http://", "ws://", 1) + "/ocpp/" + c.env.acme
	for box, tc := range map[string]struct{ scenario, password string }{"CB-J16": {"session16", pw16}, "CS-J201": {"session201", pw201}} {
		if out, failed := chargePoint(t, tc.scenario, endpoint, box, tc.password); failed {
			t.Fatalf("%s through the balancer: %v", tc.scenario, out)
		}
	}
	// OCPP transactions over HTTP, three per charge box, one after the other.
	sessions := 2
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Hour)
	for k := range 3 {
		for _, box := range httpBoxes {
			c.httpTransaction(t, box, t0.Add(time.Duration(k)*20*time.Minute))
			sessions++
		}
	}
	if !waitFor(10*time.Second, func() bool { return load.ackedReqs.Load() >= 10 }) {
		t.Fatalf("the HTTP load got %d batches acknowledged", load.ackedReqs.Load())
	}
	load.finish()
	mq.wait(t, 30*time.Second)

	if lost := checkStored(t, c.dbURL, load); lost > 0 || len(load.bad) > 0 {
		t.Errorf("HTTP ingest through the balancer: %d acknowledged rows lost; answers other than 200: %v %v", lost, load.answers, load.bad)
	}
	_, rows := c.sumMetric(t, `gridmetrics_ingest_rows_total{reason="",result="accepted"}`)
	t.Logf("HTTP ingest through the balancer: %d batches, %d rows acknowledged; rows accepted per replica (all paths): %v",
		load.ackedReqs.Load(), len(load.acked), rows)

	c.checkMQTTOnce(t, mq)
	c.checkPricedOnce(t, sessions)
	c.checkRollupsOnce(t)
}

// httpTransaction runs an OCPP 1.6 transaction of connector 1 over the
// HTTP routes, through the balancer: 1 kWh in ten minutes from t0.
func (c *replicaCluster) httpTransaction(t *testing.T, box string, t0 time.Time) {
	t.Helper()
	r := c.admin.do("POST", "/v1/ocpp/"+box+"/start-transaction",
		fmt.Sprintf(`{"connectorId":1,"idTag":"TAG-LB","meterStart":1000,"timestamp":%q}`, rfc(t0)))
	expect(t, "start transaction of "+box, r, 200, "")
	tx := int64(dig(r.Body, "data", "ocpp", "transactionId").(float64))
	expect(t, "meter values of "+box, c.admin.do("POST", "/v1/ocpp/"+box+"/meter-values", fmt.Sprintf(`{"connectorId":1,"transactionId":%d,"meterValue":[
		{"timestamp":%q,"sampledValue":[{"value":"1500"},{"value":"6","measurand":"Power.Active.Import","unit":"kW"}]}]}`,
		tx, rfc(t0.Add(5*time.Minute)))), 200, "")
	expect(t, "stop transaction of "+box, c.admin.do("POST", "/v1/ocpp/"+box+"/stop-transaction",
		fmt.Sprintf(`{"transactionId":%d,"meterStop":2000,"timestamp":%q,"reason":"Local"}`, tx, rfc(t0.Add(10*time.Minute)))), 200, "")
}

// checkMQTTOnce: the replicas share one subscription (mqtt-group), so the
// broker hands each message to one of them: every acknowledged
// publication is stored, and the replicas together stored exactly as many
// messages as were published, more than one replica taking part.
func (c *replicaCluster) checkMQTTOnce(t *testing.T, mq *mqttLoad) {
	t.Helper()
	mq.waitStored(t, c.dbURL, 20*time.Second)
	published := float64(mq.acks.Load())
	var sum float64
	var each []float64
	// The counter moves once the broker has the acknowledgement, just
	// after the commit the readings show.
	waitFor(5*time.Second, func() bool {
		sum, each = c.sumMetric(t, `gridmetrics_mqtt_messages_total{outcome="stored"}`)
		return sum >= published
	})
	taking := 0
	for _, n := range each {
		if n > 0 {
			taking++
		}
	}
	t.Logf("MQTT: %v messages published, stored by the replicas %v (sum %v)", published, each, sum)
	if sum != published {
		t.Errorf("the replicas stored %v MQTT messages for %v published: each message must be ingested once", sum, published)
	}
	if taking < 2 {
		t.Errorf("MQTT messages went to %d replica(s) of %d: the subscription is not shared", taking, replicaCount)
	}
}

// connect opens a connection to the replicas' database for t, within
// limit.
func (c *replicaCluster) connect(t *testing.T, limit time.Duration) (context.Context, *pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	conn, err := pgx.Connect(ctx, c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return ctx, conn
}

// checkPricedOnce waits until every session is priced, and checks that
// each was priced once: price_count 1, also a moment later, while every
// replica's pricing worker keeps polling, and as many prices stored by the
// replicas together.
func (c *replicaCluster) checkPricedOnce(t *testing.T, want int) {
	t.Helper()
	ctx, conn := c.connect(t, 60*time.Second)
	var total, priced, notOnce, maxCount int
	read := func() {
		t.Helper()
		err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'priced'),
			count(*) FILTER (WHERE price_count <> 1), coalesce(max(price_count), 0) FROM sessions`).Scan(&total, &priced, &notOnce, &maxCount)
		if err != nil {
			t.Fatal(err)
		}
	}
	if !waitFor(20*time.Second, func() bool { read(); return priced == want }) {
		t.Fatalf("%d of %d sessions priced (%d sessions in all) after 20s", priced, want, total)
	}
	time.Sleep(time.Second) // five more polls of every worker
	read()
	t.Logf("sessions: %d, priced %d, priced other than once %d (most pricings of one session: %d)", total, priced, notOnce, maxCount)
	if total != want || notOnce > 0 {
		t.Errorf("%d sessions, %d of them priced other than once (most pricings of one: %d), want %d priced once each", total, notOnce, maxCount, want)
	}
	// The workers' own count: the prices the replicas stored add up to
	// the sessions, whichever replica priced which.
	sum, each := c.sumMetric(t, `gridmetrics_session_pricings_total{status="priced"}`)
	t.Logf("prices stored by each replica: %v", each)
	if sum != float64(want) {
		t.Errorf("the replicas stored %v prices (%v), want %d", sum, each, want)
	}
}

// checkRollupsOnce waits until the late data is re-aggregated and the 15m
// tier is refreshed up to now minus the lateness, then checks that the
// spans the replicas' refreshes committed add up to each watermark's
// advance — no span computed twice — and that the 15m tier holds every
// raw reading below its watermark once.
func (c *replicaCluster) checkRollupsOnce(t *testing.T) {
	t.Helper()
	ctx, conn := c.connect(t, 60*time.Second)
	watermarks := func() (map[string]time.Time, int) {
		t.Helper()
		wms := map[string]time.Time{}
		rows, err := conn.Query(ctx, `SELECT tier, watermark FROM rollup_watermarks`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var tier string
			var wm time.Time
			if err := rows.Scan(&tier, &wm); err != nil {
				t.Fatal(err)
			}
			wms[tier] = wm.UTC()
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		var pending int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM rollup_invalidations`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		return wms, pending
	}
	var (
		wms     map[string]time.Time
		spans   = map[string]float64{}
		shares  = map[string][]float64{}
		pending int
		settled bool
	)
	deadline := time.Now().Add(20 * time.Second)
	for !settled {
		if time.Now().After(deadline) {
			t.Fatalf("rollups did not settle in 20s: watermarks %v, refreshed spans %v, %d series awaiting re-aggregation", wms, spans, pending)
		}
		time.Sleep(100 * time.Millisecond)
		var before map[string]time.Time
		before, pending = watermarks()
		for _, tier := range rollups.Tiers {
			spans[tier.Name], shares[tier.Name] = c.sumMetric(t, fmt.Sprintf(`gridmetrics_rollup_refreshed_seconds_total{tier=%q}`, tier.Name))
		}
		wms, _ = watermarks()
		if fmt.Sprint(before) != fmt.Sprint(wms) {
			continue // a refresh committed meanwhile
		}
		settled = pending == 0 && !wms["15m"].Before(rollups.Tiers[0].Floor(time.Now().Add(-time.Minute)))
		for _, tier := range rollups.Tiers {
			advance := wms[tier.Name].Sub(c.rollupsFrom).Seconds()
			switch {
			case spans[tier.Name] > advance:
				t.Fatalf("%s: the replicas refreshed %v s in all (%v each) for a watermark advance of %v s: a span was computed twice",
					tier.Name, spans[tier.Name], shares[tier.Name], advance)
			case spans[tier.Name] < advance:
				settled = false // a replica's counter trails its commit
			}
		}
	}
	for _, tier := range rollups.Tiers {
		t.Logf("rollup tier %s: watermark advanced %s, refreshed by the replicas %v s (sum %v s)",
			tier.Name, wms[tier.Name].Sub(c.rollupsFrom), shares[tier.Name], spans[tier.Name])
	}
	// Every raw reading below the 15m watermark is in exactly one bucket.
	var buckets, rawBuckets, samples, rawSamples int64
	err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM rollup_15m WHERE bucket >= $1 AND bucket < $2),
			(SELECT coalesce(sum(n), 0) FROM rollup_15m WHERE bucket >= $1 AND bucket < $2),
			(SELECT count(DISTINCT (source_id, metric, date_bin('15 minutes', time, $1))) FROM readings WHERE time >= $1 AND time < $2),
			(SELECT count(*) FROM readings WHERE time >= $1 AND time < $2)`,
		c.rollupsFrom, wms["15m"]).Scan(&buckets, &samples, &rawBuckets, &rawSamples)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rollup_15m below its watermark: %d buckets of %d readings; raw: %d buckets, %d readings", buckets, samples, rawBuckets, rawSamples)
	if buckets != rawBuckets || samples != rawSamples || rawSamples == 0 {
		t.Errorf("rollup_15m holds %d buckets of %d readings, the raw readings make %d buckets of %d", buckets, samples, rawBuckets, rawSamples)
	}
	var failed int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM rollup_watermarks WHERE last_error IS NOT NULL`).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	if failed > 0 {
		t.Errorf("%d rollup tiers record a failed last run", failed)
	}
}

// oneReading is an ingest body of one power_import reading.
func oneReading(source string, at time.Time, value float64) string {
	return string(readingsBody([]loadRow{{source: source, at: at, value: value}}))
}

// testCaches changes, through one replica, what the others hold in their
// caches — a source's name, an API key, a charge box's password — and
// asks each of the others directly, not through the balancer: they must
// know at once (LISTEN/NOTIFY), within a bounded wait.
func (c *replicaCluster) testCaches(t *testing.T) {
	e := c.env
	// Tenant other registers nothing on first sight: a name no source has
	// is refused, which is how a forgotten old name shows.
	key := e.key(e.other, "ingest,read,admin")
	expect(t, "create meter-old", client{t, c.lb.base, key}.do("POST", "/v1/sources", `{"external_id":"meter-old","kind":"meter"}`), 201, "")
	at := time.Now().UTC().Add(-2 * time.Minute).Truncate(time.Second)
	for i := range c.replicas {
		// Each replica resolves the old name, so its cache holds it.
		expect(t, fmt.Sprintf("reading of meter-old on replica %d", i+1),
			c.direct(t, i, key).do("POST", "/v1/readings", oneReading("meter-old", at.Add(time.Duration(i)*time.Second), float64(i))), 200, "")
	}
	expect(t, "rename through replica 1", c.direct(t, 0, key).do("PATCH", "/v1/sources/meter-old", `{"external_id":"meter-new"}`), 200, "")
	renamed := time.Now()
	for i := range c.replicas {
		d := c.direct(t, i, key)
		var r response
		if !waitFor(noticeLimit, func() bool {
			r = d.do("POST", "/v1/readings", oneReading("meter-old", at.Add(10*time.Second), 10))
			return r.Status == http.StatusBadRequest
		}) {
			t.Errorf("replica %d still takes the old name %s after the rename: %d %v", i+1, noticeLimit, r.Status, r.Body)
			continue
		}
		seen := time.Since(renamed)
		// The new name is the same source: its readings include those
		// sent under the old name.
		expect(t, fmt.Sprintf("reading of meter-new on replica %d", i+1),
			d.do("POST", "/v1/readings", oneReading("meter-new", at.Add(time.Duration(20+i)*time.Second), float64(20+i))), 200, "")
		q := d.do("GET", "/v1/sources/meter-new/readings?metric=power_import&tier=raw&from="+rfc(at.Add(-time.Minute))+"&to="+rfc(at.Add(time.Minute)), "")
		expect(t, fmt.Sprintf("readings of meter-new on replica %d", i+1), q, 200, "")
		if n, want := len(readingPoints(q)), replicaCount+i+1; n != want {
			t.Errorf("replica %d: meter-new has %d readings, want %d: %v", i+1, n, want, q.Body)
		}
		t.Logf("replica %d refused the old name %s after the rename", i+1, seen.Round(time.Millisecond))
	}

	c.checkZoneChange(t)

	// An API key every replica has verified (and cached) is revoked from
	// the command line: each replica refuses it.
	victim := e.key(e.acme, "read")
	for i := range c.replicas {
		expect(t, fmt.Sprintf("key before its revocation, replica %d", i+1), c.direct(t, i, victim).do("GET", "/v1/sources?limit=1", ""), 200, "")
	}
	cli(t, c.dbURL, "apikey", "revoke", strings.Split(victim, "_")[1], "--tenant", e.acme)
	revoked := time.Now()
	for i := range c.replicas {
		var r response
		if !waitFor(noticeLimit, func() bool {
			r = c.direct(t, i, victim).do("GET", "/v1/sources?limit=1", "")
			return r.Status == http.StatusUnauthorized
		}) {
			t.Errorf("replica %d still accepts a key %s after its revocation: %d", i+1, noticeLimit, r.Status)
			continue
		}
		t.Logf("replica %d refused the revoked key %s after the revocation", i+1, time.Since(revoked).Round(time.Millisecond))
	}

	// A charge box every replica has let in (its password cached) gets a
	// new password through replica 1: the others refuse the old one.
	const box, oldPassword, newPassword = "CB-CACHE", "old-secret-of-cb-cache", "new-secret-of-cb-cache"
	ocppEnv{t: t}.chargeBox(c.admin, box, oldPassword)
	dial := func(i int, password string) int {
		t.Helper()
		ws, res, err := ocppDial(t, strings.Replace(c.replicas[i].base, "http://", "ws://", 1)+"/ocpp/"+e.acme, box, password, "ocpp1.6")
		if ws != nil {
			ws.Close()
		}
		if res == nil {
			t.Fatalf("replica %d: WebSocket handshake: %v", i+1, err)
		}
		return res.StatusCode
	}
	for i := range c.replicas {
		if s := dial(i, oldPassword); s != http.StatusSwitchingProtocols {
			t.Fatalf("replica %d refused the charge box's password: %d", i+1, s)
		}
	}
	expect(t, "new password through replica 1", c.direct(t, 0, c.key).do("PUT", "/v1/sources/"+box+"/ocpp-password", fmt.Sprintf(`{"password":%q}`, newPassword)), 204, "")
	for i := range c.replicas {
		if s := dial(i, oldPassword); s != http.StatusUnauthorized {
			t.Errorf("replica %d answered the old password %d, want 401", i+1, s)
		}
		if s := dial(i, newPassword); s != http.StatusSwitchingProtocols {
			t.Errorf("replica %d answered the new password %d, want 101", i+1, s)
		}
	}
}

// checkZoneChange: a Tasmota device sends local times, read in its
// source's time zone, which the MQTT subscription caches by device. The
// zone is changed through replica 1 after every replica has read the old
// one; messages sent afterwards, whichever replica takes them, are read in
// the new zone.
func (c *replicaCluster) checkZoneChange(t *testing.T) {
	const device = "plug-tz"
	e := c.env
	expect(t, "create "+device, c.admin.do("POST", "/v1/sources", `{"external_id":"plug-tz","kind":"meter","timezone":"Europe/Berlin"}`), 201, "")
	pub := newGoPublisher(t, e.broker.URL(), mqttAcmeUser, mqttAcmePass, "zone-pub")
	// Local clock times of yesterday, a minute apart: the n-th message's.
	day := time.Now().UTC().Add(-24 * time.Hour).Truncate(24 * time.Hour)
	local := func(n int) string {
		return day.Add(10*time.Hour + time.Duration(n)*time.Minute).Format("2006-01-02T15:04:05")
	}
	send := func(from, to int) {
		t.Helper()
		for n := from; n < to; n++ {
			payload := fmt.Sprintf(`{"Time":%q,"ENERGY":{"Total":%d}}`, local(n), n)
			if err := pub.publish(topic(e.acme, "tasmota/"+device+"/tele/SENSOR"), []byte(payload)); err != nil {
				t.Fatalf("publish: %v", err)
			}
		}
	}
	// In the zone of n: n < rounds before the change, Berlin (UTC+1 in
	// winter, +2 in summer), after it New York.
	const rounds = 2 * replicaCount // the broker takes turns: each replica reads the zone
	berlin, _ := time.LoadLocation("Europe/Berlin")
	newYork, _ := time.LoadLocation("America/New_York")
	want := func(n int, zone *time.Location) time.Time {
		at, err := time.ParseInLocation("2006-01-02T15:04:05", local(n), zone)
		if err != nil {
			t.Fatal(err)
		}
		return at.UTC()
	}
	stored := func(n int) []storedReading {
		var out []storedReading
		for _, r := range readingsOf(t, c.dbURL, e.acme, device) {
			if r.metric == "energy_import" && r.value == float64(n)*1000 {
				out = append(out, r)
			}
		}
		return out
	}
	send(0, rounds)
	waitReadings(t, c.dbURL, e.acme, device, rounds, 10*time.Second)
	for n := range rounds {
		if got := stored(n); len(got) != 1 || !got[0].at.Equal(want(n, berlin)) {
			t.Fatalf("message %d (local %s) before the change: stored %v, want one reading at %s", n, local(n), got, want(n, berlin).Format(time.RFC3339))
		}
	}
	expect(t, "new zone through replica 1", c.direct(t, 0, c.key).do("PATCH", "/v1/sources/"+device, `{"timezone":"America/New_York"}`), 200, "")
	changed := time.Now()
	// A message a replica takes before it has heard of the change is read
	// in the old zone, as one taken before the change is. One at a time,
	// until every replica has read several in the new zone.
	var lastOld time.Duration
	inARow := 0
	for n := rounds; inARow < rounds; n++ {
		sent := time.Since(changed)
		if sent > noticeLimit+5*time.Second {
			t.Fatalf("%s after the zone changed, the replicas still read messages in the old zone", sent.Round(time.Millisecond))
		}
		send(n, n+1)
		var got []storedReading
		if !waitFor(5*time.Second, func() bool { got = stored(n); return len(got) > 0 }) {
			t.Fatalf("message %d not stored within 5s", n)
		}
		switch {
		case len(got) == 1 && got[0].at.Equal(want(n, newYork)):
			inARow++
		case len(got) == 1 && got[0].at.Equal(want(n, berlin)):
			inARow, lastOld = 0, sent
		default:
			t.Fatalf("message %d (local %s): stored %v, want one reading at %s", n, local(n), got, want(n, newYork).Format(time.RFC3339))
		}
	}
	if lastOld > 0 {
		t.Logf("Tasmota messages: read in the old zone until %s after the change through replica 1, then %d in a row in the new one",
			lastOld.Round(time.Millisecond), rounds)
	} else {
		t.Logf("Tasmota messages: the first %d sent after the change through replica 1 were read in the new zone", rounds)
	}
	if lastOld > noticeLimit {
		t.Errorf("a message sent %s after the zone changed was read in the old zone", lastOld.Round(time.Millisecond))
	}
}

// testClientAddress: behind the balancer, which the replicas trust, a
// client is known by the address the balancer appends to X-Forwarded-For
// (here the address an outer proxy wrote, the test client being on the
// balancer's own loopback address): one client failing to authenticate
// is refused (429) without locking out another behind the same balancer.
// The failure count is each replica's own, so the balancer's round robin
// lets a client fail up to replicas × auth-failure-limit times.
func (c *replicaCluster) testClientAddress(t *testing.T) {
	const limit = 10 // auth-failure-limit of replicaArgs
	from := func(key, xff string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, c.lb.base+"/v1/sources?limit=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Forwarded-For", xff)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	const mallory, alice = "203.0.113.66", "203.0.113.7"
	failures, refusedInARow := 0, 0
	for refusedInARow < replicaCount && failures <= replicaCount*limit+replicaCount {
		switch s := from(c.key+"x", mallory); s {
		case http.StatusUnauthorized:
			failures++
			refusedInARow = 0
		case http.StatusTooManyRequests:
			refusedInARow++
		default:
			t.Fatalf("a wrong key answered %d", s)
		}
	}
	t.Logf("a client failing to authenticate through the balancer was refused by every replica after %d failures (limit %d per replica, %d replicas)",
		failures, limit, replicaCount)
	if refusedInARow < replicaCount || failures > replicaCount*limit || failures < limit {
		t.Errorf("%d failures before every replica refused the client (%d refusals in a row), want from %d to %d", failures, refusedInARow, limit, replicaCount*limit)
	}
	for i := range replicaCount {
		if s := from(c.key, alice); s != http.StatusOK {
			t.Errorf("another client behind the balancer, request %d: %d, want 200", i+1, s)
		}
	}
}

// testChargerMoves: a charge box connects to replica 1, then, that first
// connection half-dead (as after a change of network), through replica 2.
// Replica 1 closes the old connection as replaced at once, as a single
// server does, and records the box Offline nowhere: it stays Online.
func (c *replicaCluster) testChargerMoves(t *testing.T) {
	const box, password = "CB-MOVE", "secret-of-cb-move"
	ocppEnv{t: t}.chargeBox(c.admin, box, password)
	endpoint := func(i int) string {
		return strings.Replace(c.replicas[i].base, "http://", "ws://", 1) + "/ocpp/" + c.env.acme
	}
	first, res, err := ocppDial(t, endpoint(0), box, password, "ocpp1.6")
	if err != nil {
		t.Fatalf("connect to replica 1: %v %v", err, res)
	}
	defer first.Close()
	second, res, err := ocppDial(t, endpoint(1), box, password, "ocpp1.6")
	if err != nil {
		t.Fatalf("connect to replica 2: %v %v", err, res)
	}
	defer second.Close()
	moved := time.Now()
	_ = first.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, _, err = first.ReadMessage()
	var closed *websocket.CloseError
	if !errors.As(err, &closed) || closed.Code != websocket.ClosePolicyViolation {
		t.Fatalf("the old connection on replica 1: %v, want it closed as replaced (1008) once the box connected to replica 2", err)
	}
	t.Logf("replica 1 closed the box's old connection %s after it connected to replica 2: %q",
		time.Since(moved).Round(time.Millisecond), closed.Text)
	want := map[string]int{box + " Online": 2}
	var got map[string]int
	time.Sleep(300 * time.Millisecond) // an Offline would be recorded by now
	if !waitFor(2*time.Second, func() bool { got = availabilityStates(t, c.dbURL, box); return fmt.Sprint(got) == fmt.Sprint(want) }) {
		t.Errorf("connection states of %s: %v, want %v", box, got, want)
	}
}

// testKill kills one replica (SIGKILL) under HTTP and MQTT load through
// the balancer. HAProxy takes it out of the rotation; the HTTP clients
// send again what was not acknowledged, and every acknowledged reading is
// stored. MQTT messages the dead replica had received and not yet
// acknowledged stay with its session at the broker: a replacement with
// the same client id takes them over, so it is started again before the
// MQTT check, on the same address, and the balancer brings it back.
func (c *replicaCluster) testKill(t *testing.T) {
	const victim = replicaCount - 1
	load := startLoad(c.lb.base, c.key, "kill", 6, 100)
	defer load.finish()
	mq := startMQTTLoad(t, c.env, "mqkill", replicaCount, 400, 2*time.Millisecond)
	defer mq.finish()
	if !waitFor(10*time.Second, func() bool { return load.ackedReqs.Load() >= 10 && mq.acks.Load() >= 100 }) {
		t.Fatalf("no load acknowledged before the kill: %d batches, %d MQTT messages", load.ackedReqs.Load(), mq.acks.Load())
	}
	addr := strings.TrimPrefix(c.replicas[victim].base, "http://")
	c.replicas[victim].kill()
	killed := time.Now()
	ackedAtKill := load.ackedReqs.Load()

	name := fmt.Sprintf("r%d", victim+1)
	var states map[string]string
	if !waitFor(5*time.Second, func() bool {
		states = c.lb.serverStates()
		return strings.HasPrefix(states[name], "DOWN")
	}) {
		t.Fatalf("HAProxy still has the killed replica in rotation 5s later: %v", states)
	}
	down := time.Since(killed)
	failedAtDown := load.unacknowledged()
	if !waitFor(10*time.Second, func() bool { return load.ackedReqs.Load() >= ackedAtKill+20 }) {
		t.Fatalf("the load did not go on through the other replicas: %d batches acknowledged since the kill", load.ackedReqs.Load()-ackedAtKill)
	}
	time.Sleep(500 * time.Millisecond)
	load.finish()
	failedAfterDown := load.unacknowledged() - failedAtDown

	lost := checkStored(t, c.dbURL, load)
	t.Logf("replica %d killed under %d HTTP clients: out of rotation after %s; %d batches (%d rows) acknowledged, %d lost; answers other than 200: %v",
		victim+1, load.clients, down.Round(time.Millisecond), load.ackedReqs.Load(), len(load.acked), lost, load.answers)
	if lost > 0 {
		t.Errorf("%d acknowledged rows lost", lost)
	}
	if failedAfterDown > 0 {
		t.Errorf("%d requests failed after HAProxy took the killed replica out: %v", failedAfterDown, load.answers)
	}
	for what := range load.answers {
		// Requests in flight on the killed replica: HAProxy answers 502,
		// or closes the client's connection.
		if !strings.HasPrefix(what, "502") && what != "transport error" {
			t.Errorf("answers other than 200, 502 from the balancer or a closed connection: %v; %v", load.answers, load.bad)
			break
		}
	}

	mq.wait(t, 30*time.Second)
	stored, waiting := mq.missing(t, c.dbURL, mq.ackedRows())
	p := startServerProcess(t, c.dbURL, append(c.args[victim], "--addr", addr)...)
	c.replicas[victim] = p
	c.started = append(c.started, p)
	t.Logf("MQTT: %d publications acknowledged by the broker; %d stored before the killed replica's replacement connected, %d held for its session",
		mq.acks.Load(), stored, waiting)
	mq.waitStored(t, c.dbURL, 20*time.Second)
	if !c.lb.waitUp(replicaCount, 10*time.Second) {
		t.Errorf("HAProxy did not take the replacement back: %v", c.lb.serverStates())
	}
}

// unacknowledged counts the load's answers other than 200, transport
// errors included.
func (l *faultLoad) unacknowledged() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, k := range l.answers {
		n += k
	}
	return n
}

// ackedRows is a copy of what the broker acknowledged so far.
func (l *mqttLoad) ackedRows() []loadRow {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]loadRow(nil), l.acked...)
}
