package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Faults on the MQTT path: the broker stopped, killed and restarted; the
// service killed; the database stopped. Devices publish with QoS 1 and
// retry what the broker did not acknowledge; every publication the broker
// acknowledged must end up stored once.

// mqttLoad publishes power_import readings, one per message with the value
// preset and its own time (so a redelivery is idempotent), from several
// devices until stopped or each has sent perDevice. A publication the
// broker did not acknowledge is sent again after a pause; every
// acknowledged one is recorded.
type mqttLoad struct {
	prefix string
	tenant string
	stop   chan struct{}
	wg     sync.WaitGroup
	acks   atomic.Int64
	fails  atomic.Int64
	// paused holds the devices back between publications (pause); busy
	// counts publications under way.
	paused atomic.Bool
	busy   atomic.Int64

	mu    sync.Mutex
	acked []loadRow
}

func startMQTTLoad(t *testing.T, e *mqttEnv, prefix string, devices, perDevice int, pace time.Duration) *mqttLoad {
	l := &mqttLoad{prefix: prefix, tenant: e.acme, stop: make(chan struct{})}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for d := range devices {
		p := newGoPublisher(t, e.broker.URL(), mqttAcmeUser, mqttAcmePass, fmt.Sprintf("%s-pub-%d", prefix, d))
		source := fmt.Sprintf("%s-%d", prefix, d)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := range perDevice {
				r := loadRow{source: source, at: base.Add(time.Duration(i) * time.Millisecond), value: float64(d*100000 + i)}
				payload := fmt.Appendf(nil, `{"value":%v,"time":%q}`, r.value, r.at.Format(time.RFC3339Nano))
				for {
					select {
					case <-l.stop:
						return
					default:
					}
					if l.paused.Load() {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					l.busy.Add(1)
					err := p.publish(topic(e.acme, "value/"+source+"/power_import/W"), payload)
					l.busy.Add(-1)
					if err != nil {
						l.fails.Add(1)
						time.Sleep(100 * time.Millisecond)
						continue
					}
					l.mu.Lock()
					l.acked = append(l.acked, r)
					l.mu.Unlock()
					l.acks.Add(1)
					break
				}
				time.Sleep(pace)
			}
		}()
	}
	return l
}

// pause holds the devices back and waits until no publication is under
// way; resume lets them go on.
func (l *mqttLoad) pause(t *testing.T) {
	t.Helper()
	l.paused.Store(true)
	if !waitFor(30*time.Second, func() bool { return l.busy.Load() == 0 }) {
		t.Fatalf("publications still under way after 30 s")
	}
}

func (l *mqttLoad) resume() { l.paused.Store(false) }

// finish stops the devices and waits for them.
func (l *mqttLoad) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// wait waits until the devices have sent everything (bounded).
func (l *mqttLoad) wait(t *testing.T, limit time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(limit):
		l.finish()
		t.Fatalf("the devices did not finish publishing within %s (%d acknowledged, %d refused or failed)", limit, l.acks.Load(), l.fails.Load())
	}
}

// waitStored waits until every acknowledged publication is stored (bounded)
// and fails the test for each that is not, or is stored more than once.
func (l *mqttLoad) waitStored(t *testing.T, dbURL string, limit time.Duration) {
	t.Helper()
	l.mu.Lock()
	acked := append([]loadRow(nil), l.acked...)
	l.mu.Unlock()
	var stored, lost int
	waitFor(limit, func() bool {
		stored, lost = l.missing(t, dbURL, acked)
		return lost == 0
	})
	stored, lost = checkAcknowledged(t, dbURL, l.prefix, acked)
	t.Logf("%d publications acknowledged by the broker (%d attempts refused or failed): %d stored, %d lost", len(acked), l.fails.Load(), stored, lost)
	if lost > 0 {
		t.Errorf("%d publications the broker acknowledged are not stored", lost)
	}
}

// missing counts the acknowledged publications stored and not yet
// stored, for polling (checkAcknowledged then checks values and copies).
func (l *mqttLoad) missing(t *testing.T, dbURL string, acked []loadRow) (stored, lost int) {
	t.Helper()
	have := map[string]bool{}
	for _, r := range readingsOf(t, dbURL, l.tenant, l.prefix+"-") {
		have[fmt.Sprintf("%s@%d", r.source, r.at.UnixMicro())] = true
	}
	for _, r := range acked {
		if have[fmt.Sprintf("%s@%d", r.source, r.at.UnixMicro())] {
			stored++
		} else {
			lost++
		}
	}
	return stored, lost
}

// TestMQTTBrokerStoppedAndKilled stops the broker (SIGTERM: it saves its
// sessions and queues) under load and starts it again, then kills it
// (SIGKILL) and starts it again: the service reconnects by itself each
// time, and every publication the broker acknowledged is stored once.
func TestMQTTBrokerStoppedAndKilled(t *testing.T) {
	skipFaults(t)
	t.Parallel()
	e := newMQTTEnv(t)
	m := startServer(t, e.dbURL, e.serviceArgs("gm-broker-faults")...)
	base := "http://" + m.Addr()
	waitConnected(t, base)

	load := startMQTTLoad(t, e, "brk", 4, 400, 2*time.Millisecond)
	defer load.finish()
	if !waitFor(20*time.Second, func() bool { return load.acks.Load() >= 200 }) {
		t.Fatalf("no load acknowledged before the broker stopped")
	}
	e.broker.Stop(t)
	// The service stays ready and says why MQTT is not.
	var ready string
	if !waitFor(10*time.Second, func() bool {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		ready = fmt.Sprint(res.StatusCode, " ", string(b))
		return res.StatusCode == 200 && strings.Contains(ready, `"mqtt":{"status":"disconnected"`) && strings.Contains(ready, `"problem":"`)
	}) {
		t.Errorf("/readyz while the broker is down: %s", ready)
	}
	// The devices wait until the service has subscribed again. Mosquitto
	// 2.0.11 (Debian 12) keeps the service's session over its own restart
	// but not its shared subscription: what devices publish before the
	// service subscribes again, the broker acknowledges and drops (README,
	// MQTT, "When the broker restarts"). What the service answers for is
	// every publication acknowledged before the stop, and every one after
	// it is back.
	load.pause(t)
	e.broker.Restart(t)
	waitConnected(t, base)
	load.resume()
	load.wait(t, 60*time.Second)
	load.waitStored(t, e.dbURL, 30*time.Second)

	// A killed broker loses what it had not saved (mosquitto writes its
	// store on exit and at intervals), which is the broker's durability;
	// the service's part is to reconnect and go on.
	e.broker.Kill(t)
	e.broker.Restart(t)
	waitConnected(t, base)
	after := startMQTTLoad(t, e, "brk-after", 2, 50, 0)
	after.wait(t, 30*time.Second)
	after.waitStored(t, e.dbURL, 30*time.Second)
}

// TestMQTTServiceKilled kills the service (SIGKILL) while devices publish
// and starts it again with the same client id: the broker kept the
// session, so every publication it acknowledged is stored, those the
// service had not acknowledged being sent again.
func TestMQTTServiceKilled(t *testing.T) {
	skipFaults(t)
	t.Parallel()
	e := newMQTTEnv(t)
	args := e.serviceArgs("gm-killed")
	srv := startServerProcess(t, e.dbURL, args...)
	waitConnected(t, srv.base)

	load := startMQTTLoad(t, e, "kill", 4, 500, 2*time.Millisecond)
	defer load.finish()
	if !waitFor(20*time.Second, func() bool { return load.acks.Load() >= 300 }) {
		t.Fatalf("no load acknowledged before the kill")
	}
	srv.kill()
	killedAt := load.acks.Load()
	// The devices go on while the service is away: the broker queues for
	// its session.
	if !waitFor(10*time.Second, func() bool { return load.acks.Load() >= killedAt+300 }) {
		t.Fatalf("the broker acknowledged no publications while the service was away")
	}
	srv = startServerProcess(t, e.dbURL, args...)
	waitConnected(t, srv.base)
	load.wait(t, 60*time.Second)
	load.waitStored(t, e.dbURL, 30*time.Second)
}

// TestMQTTDatabaseStopped stops PostgreSQL (immediate shutdown) under MQTT
// load: the messages wait unacknowledged (the broker holds them; nothing
// is dropped) and are stored once it is back, without a restart.
func TestMQTTDatabaseStopped(t *testing.T) {
	skipFaults(t)
	t.Parallel()
	cluster := startScratchCluster(t)
	cli(t, cluster.url, "migrate")
	e := newMQTTEnvOn(t, cluster.url)
	srv := startServerProcess(t, e.dbURL, e.serviceArgs("gm-db-down",
		"--db-writer-acquire-timeout", "1s", "--db-auth-acquire-timeout", "1s", "--mqtt-inflight", "64")...)
	waitConnected(t, srv.base)

	load := startMQTTLoad(t, e, "dbdown", 4, 600, 5*time.Millisecond)
	defer load.finish()
	if !waitFor(20*time.Second, func() bool { return load.acks.Load() >= 200 }) {
		t.Fatalf("no load acknowledged before the outage")
	}
	cluster.crash()
	time.Sleep(3 * time.Second)
	cluster.start()
	load.wait(t, 60*time.Second)
	load.waitStored(t, e.dbURL, 60*time.Second)
	// The outage was seen: messages waited for the database, unacknowledged.
	if n := metricValue(t, srv.base, "gridmetrics_mqtt_retries_total"); n == 0 {
		t.Errorf("no message waited for the database during the outage; log:\n%s", srv.logs)
	}
}

// metricValue reads one sample of the service's /metrics (0 when absent).
func metricValue(t *testing.T, base, name string) float64 {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}
