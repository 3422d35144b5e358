package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The OCPP id-tag policy through the real server: its routes (validation,
// scope, tenants kept apart) and the answers it gives chargers, over the
// HTTP OCPP routes and the OCPP-J WebSocket alike.

func TestIDTagRoutes(t *testing.T) {
	t.Parallel()
	e := newOCPPEnv(t)
	tag := func(c client, method, tag, body string) response {
		return c.do(method, "/v1/ocpp/id-tags/"+tag, body)
	}
	expect(t, "default policy", e.admin.do("GET", "/v1/ocpp/id-tag-policy", ""), 200, "")
	if m := e.admin.do("GET", "/v1/ocpp/id-tag-policy", "").data()["mode"]; m != "accept_all" {
		t.Fatalf("default mode %v", m)
	}
	expect(t, "unknown mode", e.admin.do("PUT", "/v1/ocpp/id-tag-policy", `{"mode":"deny_all"}`), 400, "VALIDATION_ERROR")
	expect(t, "no mode", e.admin.do("PUT", "/v1/ocpp/id-tag-policy", `{}`), 400, "VALIDATION_ERROR")
	expect(t, "policy, read scope", e.reader.do("PUT", "/v1/ocpp/id-tag-policy", `{"mode":"list"}`), 403, "FORBIDDEN")
	expect(t, "policy read, read scope", e.reader.do("GET", "/v1/ocpp/id-tag-policy", ""), 403, "FORBIDDEN")
	expect(t, "set list", e.admin.do("PUT", "/v1/ocpp/id-tag-policy", `{"mode":"list"}`), 200, "")

	expect(t, "create", tag(e.admin, "PUT", "RFID-1", `{"status":"accepted","expires_at":"2030-01-01T00:00:00+01:00","note":"fleet"}`), 201, "")
	r := tag(e.admin, "PUT", "rfid-1", `{"status":"blocked"}`)
	expect(t, "replace in another case", r, 200, "")
	if d := r.data(); d["tag"] != "rfid-1" || d["status"] != "blocked" || d["expires_at"] != nil {
		t.Fatalf("replaced: %v", d)
	}
	for name, bad := range map[string][2]string{
		"unknown status":   {"RFID-2", `{"status":"maybe"}`},
		"no status":        {"RFID-2", `{}`},
		"bad expiry":       {"RFID-2", `{"status":"accepted","expires_at":"next week"}`},
		"unknown field":    {"RFID-2", `{"status":"accepted","colour":"red"}`},
		"long note":        {"RFID-2", fmt.Sprintf(`{"status":"accepted","note":%q}`, strings.Repeat("n", 201))},
		"tag of 37":        {strings.Repeat("T", 37), `{"status":"accepted"}`},
		"control in tag":   {"RFID%0A2", `{"status":"accepted"}`},
		"not JSON":         {"RFID-2", `{"status":`},
		"non-ASCII in tag": {"RFID-%C3%BC", `{"status":"accepted"}`},
	} {
		expect(t, name, tag(e.admin, "PUT", bad[0], bad[1]), 400, "VALIDATION_ERROR")
	}
	expect(t, "tag of 36", tag(e.admin, "PUT", strings.Repeat("T", 36), `{"status":"accepted"}`), 201, "")
	expect(t, "tag, read scope", tag(e.reader, "PUT", "RFID-3", `{"status":"accepted"}`), 403, "FORBIDDEN")
	expect(t, "list, read scope", e.reader.do("GET", "/v1/ocpp/id-tags", ""), 403, "FORBIDDEN")
	expect(t, "limit past the cap", e.admin.do("GET", "/v1/ocpp/id-tags?limit=1001", ""), 400, "VALIDATION_ERROR")

	r = e.admin.do("GET", "/v1/ocpp/id-tags?limit=1", "")
	expect(t, "list", r, 200, "")
	if list := r.Body["data"].([]any); len(list) != 1 || dig(r.Body, "pagination", "total") != 2.0 {
		t.Fatalf("list: %v", r.Body)
	}

	// Tenant other sees none of acme's tags nor its policy, and cannot
	// touch them.
	if m := e.otherAdmin.do("GET", "/v1/ocpp/id-tag-policy", "").data()["mode"]; m != "accept_all" {
		t.Fatalf("other's mode %v", m)
	}
	r = e.otherAdmin.do("GET", "/v1/ocpp/id-tags", "")
	if list := r.Body["data"].([]any); len(list) != 0 || dig(r.Body, "pagination", "total") != 0.0 {
		t.Fatalf("other lists acme's tags: %v", r.Body)
	}
	expect(t, "other deletes acme's", tag(e.otherAdmin, "DELETE", "RFID-1", ""), 404, "NOT_FOUND")
	expect(t, "delete", tag(e.admin, "DELETE", "Rfid-1", ""), 204, "")
	expect(t, "delete again", tag(e.admin, "DELETE", "RFID-1", ""), 404, "NOT_FOUND")
}

// TestIDTagAnswers: the same policy answers the HTTP OCPP routes'
// idTagInfo / idTokenInfo and the WebSocket Authorize of both editions.
func TestIDTagAnswers(t *testing.T) {
	t.Parallel()
	e := hostileBox(t)
	put := func(tag, body string) {
		t.Helper()
		r := e.admin.do("PUT", "/v1/ocpp/id-tags/"+tag, body)
		if r.Status != 200 && r.Status != 201 {
			t.Fatalf("put %s: %d %v", tag, r.Status, r.Body)
		}
	}
	put("RFID-OK", `{"status":"accepted","expires_at":"2099-01-01T00:00:00Z"}`)
	put("RFID-BLOCKED", `{"status":"blocked"}`)
	put("RFID-OLD", fmt.Sprintf(`{"status":"accepted","expires_at":%q}`, rfc(time.Now().Add(-time.Hour))))

	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	start := func(connector int, tag string) response {
		return e.admin.do("POST", "/v1/ocpp/CB-H/start-transaction",
			fmt.Sprintf(`{"connectorId":%d,"idTag":%q,"meterStart":0,"timestamp":%q}`, connector, tag, rfc(t0.Add(time.Duration(connector)*time.Second))))
	}

	// accept_all (the default): any tag.
	if s := dig(start(1, "anything").Body, "data", "ocpp", "idTagInfo", "status"); s != "Accepted" {
		t.Fatalf("accept_all start: %v", s)
	}
	ws16 := e.dial("ocpp1.6")
	if s := dig(ocppCall(t, ws16, `[2,"a0","Authorize",{"idTag":"anything"}]`)[2], "idTagInfo", "status"); s != "Accepted" {
		t.Fatalf("accept_all Authorize: %v", s)
	}

	expect(t, "set list", e.admin.do("PUT", "/v1/ocpp/id-tag-policy", `{"mode":"list"}`), 200, "")
	for i, c := range []struct{ tag, want string }{
		{"rfid-ok", "Accepted"}, {"RFID-BLOCKED", "Blocked"}, {"Rfid-Old", "Expired"}, {"RFID-NONE", "Invalid"},
	} {
		// OCPP 1.6 over HTTP: a transaction id whatever the status; the
		// session is recorded, and the charger stops it.
		r := start(i+2, c.tag)
		expect(t, "start "+c.tag, r, 200, "")
		if s := dig(r.Body, "data", "ocpp", "idTagInfo", "status"); s != c.want || dig(r.Body, "data", "ocpp", "transactionId") == nil {
			t.Errorf("start %s: %v, want %s with a transactionId", c.tag, dig(r.Body, "data", "ocpp"), c.want)
		}
		// OCPP 1.6 over OCPP-J.
		a := ocppCall(t, ws16, fmt.Sprintf(`[2,"a%d","Authorize",{"idTag":%q}]`, i+1, c.tag))
		if len(a) != 3 || a[0] != 3.0 || dig(a[2], "idTagInfo", "status") != c.want {
			t.Errorf("Authorize 1.6 %s: %v, want %s", c.tag, a, c.want)
		}
	}
	// StopTransaction's idTagInfo is about the tag that stops it.
	tx := dig(start(9, "RFID-OK").Body, "data", "ocpp", "transactionId")
	r := e.admin.do("POST", "/v1/ocpp/CB-H/stop-transaction", fmt.Sprintf(`{"transactionId":%v,"idTag":"rfid-blocked","meterStop":10,"timestamp":%q}`,
		tx, rfc(t0.Add(time.Minute))))
	expect(t, "stop", r, 200, "")
	if s := dig(r.Body, "data", "ocpp", "idTagInfo", "status"); s != "Blocked" {
		t.Errorf("stop by a blocked tag: %v", dig(r.Body, "data", "ocpp"))
	}
	if d := dig(ocppCall(t, ws16, `[2,"x1","Authorize",{"idTag":"RFID-OK"}]`)[2], "idTagInfo", "expiryDate"); d != "2099-01-01T00:00:00Z" {
		t.Errorf("expiryDate %v", d)
	}
	if a := ocppCall(t, ws16, fmt.Sprintf(`[2,"x2","Authorize",{"idTag":%q}]`, strings.Repeat("T", 21))); a[0] != 4.0 || a[2] != "PropertyConstraintViolation" {
		t.Errorf("a 21-character idTag: %v, want a PropertyConstraintViolation", a)
	}
	if a := ocppCall(t, ws16, `[2,"x3","Authorize",{"idTag":42}]`); a[0] != 4.0 || a[2] != "TypeConstraintViolation" {
		t.Errorf("a numeric idTag: %v", a)
	}
	ws16.Close()

	// OCPP 2.0.1 over OCPP-J and over HTTP.
	ws201 := e.dial("ocpp2.0.1")
	for i, c := range []struct{ tag, want string }{
		{"RFID-OK", "Accepted"}, {"rfid-blocked", "Blocked"}, {"RFID-OLD", "Expired"}, {"RFID-NONE", "Unknown"},
	} {
		a := ocppCall(t, ws201, fmt.Sprintf(`[2,"b%d","Authorize",{"idToken":{"idToken":%q,"type":"ISO14443"}}]`, i, c.tag))
		if len(a) != 3 || a[0] != 3.0 || dig(a[2], "idTokenInfo", "status") != c.want {
			t.Errorf("Authorize 2.0.1 %s: %v, want %s", c.tag, a, c.want)
		}
		r := e.admin.do("POST", "/v1/ocpp/CB-H/transaction-event", fmt.Sprintf(`{"eventType":"Started","timestamp":%q,
			"triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"tx-%d"},"evse":{"id":%d,"connectorId":1},
			"idToken":{"idToken":%q,"type":"ISO14443"}}`, rfc(t0.Add(time.Duration(10+i)*time.Second)), i, 10+i, c.tag))
		expect(t, "transaction event "+c.tag, r, 200, "")
		if s := dig(r.Body, "data", "ocpp", "idTokenInfo", "status"); s != c.want {
			t.Errorf("transaction event %s: %v, want %s", c.tag, s, c.want)
		}
	}
	if a := ocppCall(t, ws201, fmt.Sprintf(`[2,"y1","Authorize",{"idToken":{"idToken":%q,"type":"ISO14443"}}]`, strings.Repeat("T", 37))); a[0] != 4.0 || a[2] != "PropertyConstraintViolation" {
		t.Errorf("a 37-character idToken: %v", a)
	}

	// Another tenant's list does not reach acme's chargers.
	expect(t, "other lists a tag", e.otherAdmin.do("PUT", "/v1/ocpp/id-tags/RFID-NONE", `{"status":"accepted"}`), 201, "")
	if s := dig(ocppCall(t, ws201, `[2,"y2","Authorize",{"idToken":{"idToken":"RFID-NONE","type":"ISO14443"}}]`)[2], "idTokenInfo", "status"); s != "Unknown" {
		t.Errorf("another tenant's tag: %v", s)
	}
}
