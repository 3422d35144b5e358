package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"

	"github.com/gridmetrics/gridmetrics/internal/ocpischema"
)

// sessionCDR is the route that serves a session's CDR to OCPI peers.
var sessionCDR = regexp.MustCompile(`^/v1/sessions/[^/]+/cdr$`)

// checkOCPI checks what the service sends to OCPI peers against the OCPI
// 2.2.1 schema, beside the contract check: every CDR a test is served
// (GET /v1/sessions/{id}/cdr) must be one a roaming partner accepts.
func checkOCPI(req *http.Request, status int, raw []byte) error {
	if req.Method != http.MethodGet || status != http.StatusOK || !sessionCDR.MatchString(req.URL.Path) {
		return nil
	}
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("CDR answer: %w", err)
	}
	return ocpischema.CDR(body.Data)
}
