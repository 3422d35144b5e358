package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// bulkBody is a bulk registration of the given sources.
func bulkBody(t *testing.T, sources ...map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"sources": sources})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func meters(prefix string, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"external_id": fmt.Sprintf("%s-%04d", prefix, i), "kind": "meter", "site_id": "fleet-1"}
	}
	return out
}

// bulkResults checks the counts of a bulk answer and returns its results.
func bulkResults(t *testing.T, what string, r response, created, existing, rejected int) []map[string]any {
	t.Helper()
	expect(t, what, r, 200, "")
	d := r.data()
	if d["created"] != float64(created) || d["existing"] != float64(existing) || d["rejected"] != float64(rejected) {
		t.Fatalf("%s: created %v existing %v rejected %v, want %d %d %d", what, d["created"], d["existing"], d["rejected"], created, existing, rejected)
	}
	raw, _ := d["results"].([]any)
	out := make([]map[string]any, len(raw))
	for i, x := range raw {
		out[i], _ = x.(map[string]any)
		if out[i]["index"] != float64(i) {
			t.Fatalf("%s: result %d has index %v", what, i, out[i]["index"])
		}
	}
	return out
}

func resultSource(r map[string]any) map[string]any {
	s, _ := r["source"].(map[string]any)
	return s
}

// TestSourcesBulk: a fleet registers in one request, in one transaction,
// with a result per source in order; a retry finds them all existing.
func TestSourcesBulk(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	acme := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme"))
	other := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "other"))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", acme, "--scopes", "read,admin", "--name", "ops"))
	otherKey := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", other, "--scopes", "read,admin", "--name", "ops"))
	m := startServer(t, dbURL)
	base := "http://" + m.Addr()
	c := client{t, base, key}

	t.Run("a thousand meters in one request", func(t *testing.T) {
		c := client{t, base, key}
		fleet := meters("FLEET", 1000)
		start := time.Now()
		results := bulkResults(t, "bulk", c.do("POST", "/v1/sources", bulkBody(t, fleet...)), 1000, 0, 0)
		took := time.Since(start)
		ids := map[string]bool{}
		for i, r := range results {
			s := resultSource(r)
			if r["status"] != "created" || s["external_id"] != fleet[i]["external_id"] || s["site_id"] != "fleet-1" || s["kind"] != "meter" {
				t.Fatalf("result %d: %v", i, r)
			}
			ids[s["id"].(string)] = true
		}
		if len(ids) != 1000 {
			t.Fatalf("%d distinct ids", len(ids))
		}
		list := c.do("GET", "/v1/sources?site_id=fleet-1&limit=1", "")
		if total := list.Body["pagination"].(map[string]any)["total"]; total != float64(1000) {
			t.Fatalf("listed %v sources, want 1000", total)
		}
		again := bulkResults(t, "retry", c.do("POST", "/v1/sources", bulkBody(t, fleet...)), 0, 1000, 0)
		for i, r := range again {
			if r["status"] != "existing" || resultSource(r)["id"] != resultSource(results[i])["id"] {
				t.Fatalf("retry %d: %v, first %v", i, r, results[i])
			}
		}
		t.Logf("1000 sources in one request: %v", took)
	})

	t.Run("created, existing and rejected in order", func(t *testing.T) {
		c := client{t, base, key}
		expect(t, "create", c.do("POST", "/v1/sources", `{"external_id":"MIX-OLD","kind":"meter","name":"kept"}`), 201, "")
		results := bulkResults(t, "mix", c.do("POST", "/v1/sources", bulkBody(t,
			map[string]any{"external_id": "MIX-1", "kind": "meter"},
			map[string]any{"external_id": "MIX-OLD", "kind": "charger", "name": "changed"},
			map[string]any{"external_id": "MIX-2", "kind": "meter", "timezone": "Mars/Olympus"},
			map[string]any{"external_id": "MIX-3", "kind": "meter", "parent": "NO-SUCH"},
			map[string]any{"external_id": "MIX-4", "kind": "meter"},
		)), 2, 1, 2)
		want := []string{"created", "existing", "rejected", "rejected", "created"}
		for i, r := range results {
			if r["status"] != want[i] {
				t.Fatalf("result %d: %v, want %s", i, r, want[i])
			}
		}
		if s := resultSource(results[1]); s["name"] != "kept" || s["kind"] != "meter" {
			t.Fatalf("existing source changed: %v", s)
		}
		for i, field := range map[int]string{2: "timezone", 3: "parent"} {
			e, _ := results[i]["error"].(map[string]any)
			if e["code"] != "VALIDATION_ERROR" || e["details"].(map[string]any)["field"] != field || results[i]["source"] != nil {
				t.Fatalf("result %d: %v, want a VALIDATION_ERROR of %s", i, results[i], field)
			}
		}
		expect(t, "rejected not stored", c.do("GET", "/v1/sources/MIX-2", ""), 404, "NOT_FOUND")
		// An item of the wrong type is rejected alone, naming its field.
		results = bulkResults(t, "wrong type", c.doInvalid("POST", "/v1/sources",
			`{"sources":[{"external_id":"TYPE-1","kind":"meter","name":7},{"external_id":"TYPE-2","kind":"meter"}]}`), 1, 0, 1)
		if e, _ := results[0]["error"].(map[string]any); e["details"].(map[string]any)["field"] != "name" {
			t.Fatalf("wrong type: %v", results[0])
		}
	})

	t.Run("a parent named by an earlier item", func(t *testing.T) {
		c := client{t, base, key}
		results := bulkResults(t, "tree", c.do("POST", "/v1/sources", bulkBody(t,
			map[string]any{"external_id": "TREE-BOX", "kind": "charger"},
			map[string]any{"external_id": "TREE-BOX/1", "kind": "connector", "parent": "TREE-BOX"},
			map[string]any{"external_id": "TREE-BOX/2", "kind": "connector", "parent": "TREE-BOX"},
		)), 3, 0, 0)
		box := resultSource(results[0])["id"]
		for _, r := range results[1:] {
			if resultSource(r)["parent"] != box {
				t.Fatalf("connector %v: parent is not %v", r, box)
			}
		}
	})

	t.Run("limits and malformed bodies", func(t *testing.T) {
		c := client{t, base, key}
		r := c.doInvalid("POST", "/v1/sources", bulkBody(t, meters("OVER", 1001)...))
		expect(t, "1001 sources", r, 413, "PAYLOAD_TOO_LARGE")
		if e := r.Body["error"].(map[string]any); e["details"].(map[string]any)["limit"] != float64(1000) || !strings.Contains(e["message"].(string), "1000") {
			t.Fatalf("1001 sources: %v", r.Body)
		}
		expect(t, "none stored", c.do("GET", "/v1/sources/OVER-0000", ""), 404, "NOT_FOUND")
		for name, body := range map[string]string{
			"not an array":    `{"sources":{"external_id":"X","kind":"meter"}}`,
			"null":            `{"sources":null}`,
			"empty":           `{"sources":[]}`,
			"item not object": `{"sources":[{"external_id":"BAD-1","kind":"meter"},"BAD-2"]}`,
			"item null":       `{"sources":[null]}`,
			"extra field":     `{"sources":[{"external_id":"BAD-3","kind":"meter"}],"dry_run":true}`,
		} {
			expect(t, name, c.doInvalid("POST", "/v1/sources", body), 400, "VALIDATION_ERROR")
		}
		expect(t, "malformed stores nothing", c.do("GET", "/v1/sources/BAD-1", ""), 404, "NOT_FOUND")
		// A single source answers as before.
		expect(t, "single", c.do("POST", "/v1/sources", `{"external_id":"SINGLE","kind":"meter"}`), 201, "")
		expect(t, "single duplicate", c.do("POST", "/v1/sources", `{"external_id":"SINGLE","kind":"meter"}`), 409, "CONFLICT")
	})

	t.Run("tenants apart", func(t *testing.T) {
		intruder := client{t, base, otherKey}
		results := bulkResults(t, "other tenant", intruder.do("POST", "/v1/sources", bulkBody(t,
			map[string]any{"external_id": "FLEET-0000", "kind": "meter"},
			map[string]any{"external_id": "FLEET-0000/1", "kind": "connector", "parent": "TREE-BOX"},
		)), 1, 0, 1)
		mine := c.do("GET", "/v1/sources/FLEET-0000", "")
		if resultSource(results[0])["id"] == mine.data()["id"] {
			t.Fatalf("other tenant got my source: %v", results[0])
		}
		if e, _ := results[1]["error"].(map[string]any); e["details"].(map[string]any)["field"] != "parent" {
			t.Fatalf("another tenant's parent: %v", results[1])
		}
	})
}

// TestSourcesBulkCSV: the same registration as CSV with a header row, row
// i at index i.
func TestSourcesBulkCSV(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	acme := tenantID(t, cli(t, dbURL, "tenant", "create", "--name", "acme"))
	key := strings.TrimSpace(cli(t, dbURL, "apikey", "create", "--tenant", acme, "--scopes", "read,admin", "--name", "ops"))
	m := startServer(t, dbURL)
	base := "http://" + m.Addr()
	post := func(body string) response {
		t.Helper()
		req, err := http.NewRequest("POST", base+"/v1/sources", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "text/csv")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out := response{Status: res.StatusCode, Header: res.Header}
		if err := json.NewDecoder(res.Body).Decode(&out.Body); err != nil {
			t.Fatal(err)
		}
		return out
	}

	results := bulkResults(t, "csv", post("kind,external_id,site_id,parent,metadata\n"+
		"charger,CSV-BOX,depot-9,,\n"+
		"connector,CSV-BOX/1,depot-9,CSV-BOX,\"{\"\"bay\"\":1}\"\n"+
		"toaster,CSV-X,,,\n"), 2, 0, 1)
	box, conn := resultSource(results[0]), resultSource(results[1])
	if box["external_id"] != "CSV-BOX" || box["site_id"] != "depot-9" || box["parent"] != nil ||
		conn["parent"] != box["id"] || conn["metadata"].(map[string]any)["bay"] != float64(1) {
		t.Fatalf("csv: %v", results)
	}
	if e, _ := results[2]["error"].(map[string]any); e["details"].(map[string]any)["field"] != "kind" {
		t.Fatalf("csv rejected row: %v", results[2])
	}
	bulkResults(t, "csv retry", post("external_id,kind\nCSV-BOX,charger\n"), 0, 1, 0)

	var rows strings.Builder
	rows.WriteString("external_id,kind\n")
	for i := range 1001 {
		fmt.Fprintf(&rows, "CSV-%04d,meter\n", i)
	}
	r := post(rows.String())
	expect(t, "1001 rows", r, 413, "PAYLOAD_TOO_LARGE")
	if r.Body["error"].(map[string]any)["details"].(map[string]any)["limit"] != float64(1000) {
		t.Fatalf("1001 rows: %v", r.Body)
	}
	for name, body := range map[string]string{
		"unknown column": "external_id,kind,colour\nX,meter,red\n",
		"no kind column": "external_id\nX\n",
		"ragged row":     "external_id,kind\nX,meter,extra\n",
		"header only":    "external_id,kind\n",
	} {
		expect(t, name, post(body), 400, "VALIDATION_ERROR")
	}
}
