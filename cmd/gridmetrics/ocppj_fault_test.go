//go:build linux

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestOCPPJDatabaseDown: PostgreSQL stops while a charger is connected.
// Its CALLs get a CALLERROR (InternalError, try again), never a
// CALLRESULT for something not committed; the connection stays up, and
// once the database is back the same CALLs, sent again, are answered and
// stored once.
func TestOCPPJDatabaseDown(t *testing.T) {
	skipFaults(t)
	t.Parallel()
	cluster := startScratchCluster(t)
	cli(t, cluster.url, "migrate")
	tenant := tenantID(t, cli(t, cluster.url, "tenant", "create", "--name", "fleet", "--auto-register"))
	key := strings.TrimSpace(cli(t, cluster.url, "apikey", "create", "--tenant", tenant, "--scopes", "ingest,read,admin"))
	m := startServer(t, cluster.url, "--rate-limit", "0", "--request-timeout", "10s", "--ocpp-ping-interval", "1s",
		"--db-writer-acquire-timeout", "1s", "--db-auth-acquire-timeout", "1s", "--db-read-acquire-timeout", "1s")
	e := ocppEnv{t: t, addr: m.Addr(), acme: tenant, admin: client{t, "http://" + m.Addr(), key}}
	e.chargeBox(e.admin, "CB-F", hostilePW)
	ws := e.dialBox("CB-F", "ocpp1.6")
	// The client answers the server's pings while it waits.
	frames := make(chan []any, 8)
	go func() {
		defer close(frames)
		for {
			_ = ws.SetReadDeadline(time.Now().Add(60 * time.Second))
			var f []any
			if err := ws.ReadJSON(&f); err != nil {
				return
			}
			frames <- f
		}
	}()
	call := func(id, action, payload string) []any {
		t.Helper()
		mustSend(t, ws, fmt.Sprintf(`[2,%q,%q,%s]`, id, action, payload))
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatalf("%s: the connection closed", action)
			}
			if f[1] != id {
				t.Fatalf("%s: answer to %v", action, f[1])
			}
			return f
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no answer in 20 s", action)
		}
		return nil
	}
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	start := call("s1", "StartTransaction", fmt.Sprintf(`{"connectorId":1,"idTag":"T","meterStart":0,"timestamp":%q}`, at.Format(time.RFC3339)))
	if start[0] != 3.0 {
		t.Fatalf("start: %v", start)
	}
	tx := int64(start[2].(map[string]any)["transactionId"].(float64))
	mv := fmt.Sprintf(`{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":%q,"sampledValue":[{"value":"1234"}]}]}`,
		tx, at.Add(time.Minute).Format(time.RFC3339))
	stop := fmt.Sprintf(`{"transactionId":%d,"meterStop":2000,"timestamp":%q}`, tx, at.Add(2*time.Minute).Format(time.RFC3339))

	cluster.crash()
	for i, c := range []struct{ action, payload string }{{"MeterValues", mv}, {"StopTransaction", stop}, {"Heartbeat", `{}`}} {
		f := call(fmt.Sprint("down", i), c.action, c.payload)
		switch {
		case c.action == "Heartbeat" && f[0] != 3.0:
			t.Fatalf("heartbeat while the database is down: %v", f)
		case c.action != "Heartbeat" && (f[0] != 4.0 || f[2] != "InternalError" || !strings.Contains(f[3].(string), "try again")):
			t.Fatalf("%s while the database is down: %v, want CALLERROR InternalError", c.action, f)
		}
	}
	cluster.start()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		f := call(fmt.Sprint("mv-retry", i), "MeterValues", mv)
		if f[0] == 3.0 {
			break
		}
		if f[2] != "InternalError" || time.Now().After(deadline) {
			t.Fatalf("meter values after the database is back: %v", f)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if f := call("stop-again", "StopTransaction", stop); f[0] != 3.0 {
		t.Fatalf("stop after the database is back: %v", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, cluster.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var readings, sessions int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM readings r JOIN sources s ON s.id = r.source_id WHERE s.external_id = 'CB-F/1'`).Scan(&readings); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE status <> 'active'`).Scan(&sessions); err != nil {
		t.Fatal(err)
	}
	if readings != 1 || sessions != 1 {
		t.Fatalf("%d readings and %d stopped sessions stored, want 1 and 1", readings, sessions)
	}
}
