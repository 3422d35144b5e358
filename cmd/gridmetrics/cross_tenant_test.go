package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// pricedSessions makes, as the client's tenant, a charge box with a tariff,
// a connector and n sessions on it, waits until all are priced and returns
// their ids and the connector's public id.
func pricedSessions(t *testing.T, c client, box string, n int, t0 time.Time) (ids map[string]bool, connector string) {
	t.Helper()
	expect(t, "charger "+box, c.do("POST", "/v1/sources", fmt.Sprintf(`{"external_id":%q,"kind":"charger","site_id":"depot-1","timezone":"Europe/Berlin"}`, box)), 201, "")
	r := c.do("POST", "/v1/sources", fmt.Sprintf(`{"external_id":%q,"kind":"connector","parent":%q}`, box+"/1", box))
	expect(t, "connector of "+box, r, 201, "")
	connector = r.data()["id"].(string)
	r = c.do("POST", "/v1/tariffs", evTariff)
	expect(t, "tariff", r, 201, "")
	expect(t, "assign", c.do("POST", "/v1/tariffs/"+r.data()["id"].(string)+"/assignments",
		fmt.Sprintf(`{"source_id":%q,"valid_from":"2020-01-01T00:00:00Z"}`, box)), 201, "")
	ids = map[string]bool{}
	for i := range n {
		start := t0.Add(time.Duration(i) * 20 * time.Minute)
		r := c.do("POST", "/v1/sessions", fmt.Sprintf(`{"source":%q,"external_id":"tx-%d","id_tag":"CARD-1","start_time":%q,"meter_start":0}`, box+"/1", i, rfc(start)))
		expect(t, "start", r, 201, "")
		id := r.data()["id"].(string)
		expect(t, "stop", c.do("POST", "/v1/sessions/"+id+"/stop", fmt.Sprintf(`{"stop_time":%q,"meter_stop":1000}`, rfc(start.Add(10*time.Minute)))), 200, "")
		ids[id] = true
	}
	deadline := time.Now().Add(20 * time.Second)
	for id := range ids {
		for c.do("GET", "/v1/sessions/"+id, "").data()["status"] != "priced" {
			if time.Now().After(deadline) {
				t.Fatalf("session %s was not priced in time", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return ids, connector
}

// pullIDs follows a billing pull from cursor until has_more is false and
// returns the ids served, or the status of the first page that was not 200.
func pullIDs(t *testing.T, c client, query, cursor string) (ids []string, status int) {
	t.Helper()
	for range 100 {
		r := c.do("GET", "/v1/sessions?"+query+"&cursor="+url.QueryEscape(cursor), "")
		if r.Status != 200 {
			return ids, r.Status
		}
		for _, x := range r.Body["data"].([]any) {
			ids = append(ids, x.(map[string]any)["id"].(string))
		}
		cursor, _ = dig(r.Body, "pagination", "next_cursor").(string)
		if dig(r.Body, "pagination", "has_more") != true {
			return ids, 200
		}
	}
	t.Fatalf("pull %s did not end in 100 pages", query)
	return nil, 0
}

// exportIDs runs the NDJSON export as the client and returns the ids in it.
func exportIDs(t *testing.T, base string, c client, query string) (map[string]map[string]string, int) {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/v1/sessions/export?format=ndjson&"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		return nil, res.StatusCode
	}
	return ndjsonRows(t, body), 200
}

// TestCrossTenantBilling replays one tenant's billing cursors, session ids
// and source names with another tenant's key: the other tenant must get a
// 400 or its own sessions, never one of the first tenant's.
func TestCrossTenantBilling(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Hour)
	mine, myConnector := pricedSessions(t, e.admin, "CB-A", 3, t0)
	theirs, _ := pricedSessions(t, e.stranger, "CB-B", 2, t0)

	// A's cursors: in the middle of a pull (with its horizon) and at its end.
	first := e.billing.do("GET", "/v1/sessions?status=priced&limit=1", "")
	expect(t, "first page", first, 200, "")
	mid := dig(first.Body, "pagination", "next_cursor").(string)
	all, status := pullIDs(t, e.billing, "status=priced&limit=1", "")
	if status != 200 || len(all) != len(mine) {
		t.Fatalf("tenant A pulls %v (status %d), want its %d sessions", all, status, len(mine))
	}
	end := dig(e.billing.do("GET", "/v1/sessions?status=priced&limit=100", "").Body, "pagination", "next_cursor").(string)

	// Cursors forged from A's: back to the start, and past every horizon.
	forge := func(cursor string, edit map[string]any) string {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("cursor %q: %v", raw, err)
		}
		for k, v := range edit {
			c[k] = v
		}
		out, _ := json.Marshal(c)
		return base64.RawURLEncoding.EncodeToString(out)
	}
	fromZero := forge(mid, map[string]any{"a": 0})
	wide := forge(mid, map[string]any{"a": 0, "h": int64(1) << 62})

	for _, tc := range []struct{ name, query, cursor string }{
		{"A's cursor mid-pull", "status=priced&limit=1", mid},
		{"A's cursor mid-pull, larger pages", "status=priced&limit=100", mid},
		{"A's cursor at the end of a pull", "status=priced&limit=100", end},
		{"A's cursor with other filters", "limit=100", mid},
		{"A's cursor moved to the start", "status=priced&limit=100", fromZero},
		{"A's cursor with the widest horizon", "status=priced&limit=100", wide},
		{"A's cursor with A's source", "status=priced&source=" + myConnector, mid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, status := pullIDs(t, e.stranger, tc.query, tc.cursor)
			if status != 200 && status != 400 {
				t.Fatalf("status %d, want 200 or 400", status)
			}
			for _, id := range ids {
				if mine[id] {
					t.Fatalf("tenant B got tenant A's session %s", id)
				}
				if !theirs[id] {
					t.Fatalf("tenant B got session %s, not one of its own", id)
				}
			}
		})
	}

	t.Run("B's own pull serves B's sessions only", func(t *testing.T) {
		ids, status := pullIDs(t, e.stranger, "status=priced&limit=1", "")
		if status != 200 || len(ids) != len(theirs) {
			t.Fatalf("tenant B pulls %v (status %d), want its %d sessions", ids, status, len(theirs))
		}
		for _, id := range ids {
			if !theirs[id] {
				t.Fatalf("tenant B pulled %s", id)
			}
		}
	})

	span := "from=" + url.QueryEscape(rfc(t0.Add(-time.Hour))) + "&to=" + url.QueryEscape(rfc(t0.Add(2*time.Hour)))
	t.Run("export", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			query string
			want  map[string]bool
		}{
			{"B's range", span, theirs},
			{"B filtering on A's connector", span + "&source=" + myConnector, nil},
			{"B filtering on A's box by name", span + "&source=CB-A/1", nil},
			{"B with A's cursor", span + "&cursor=" + url.QueryEscape(mid), theirs},
		} {
			rows, status := exportIDs(t, e.base, e.stranger, tc.query)
			if status == 400 && tc.want != nil && tc.name == "B with A's cursor" {
				continue // a cursor is no export parameter; refusing it is fine
			}
			if status != 200 {
				t.Fatalf("%s: status %d", tc.name, status)
			}
			for id := range rows {
				if mine[id] {
					t.Fatalf("%s: tenant B exported tenant A's session %s", tc.name, id)
				}
			}
			if len(rows) != len(tc.want) {
				t.Errorf("%s: %d rows, want %d", tc.name, len(rows), len(tc.want))
			}
		}
		rows, status := exportIDs(t, e.base, e.billing, span)
		if status != 200 || len(rows) != len(mine) {
			t.Fatalf("tenant A exports %d rows (status %d), want %d", len(rows), status, len(mine))
		}
	})

	t.Run("A's sessions by id", func(t *testing.T) {
		for id := range mine {
			expect(t, "get", e.stranger.do("GET", "/v1/sessions/"+id, ""), 404, "NOT_FOUND")
			expect(t, "cdr", e.stranger.do("GET", "/v1/sessions/"+id+"/cdr", ""), 404, "NOT_FOUND")
			expect(t, "reprice", e.stranger.do("POST", "/v1/sessions/"+id+"/reprice", ""), 404, "NOT_FOUND")
			expect(t, "stop", e.stranger.do("POST", "/v1/sessions/"+id+"/stop", fmt.Sprintf(`{"stop_time":%q,"meter_stop":5}`, rfc(t0))), 404, "NOT_FOUND")
		}
	})
}
