package ocppj

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseFrame(t *testing.T) {
	for _, tc := range []struct {
		name, frame string
		wantCall    bool
		wantID      string
		wantCode    ErrorCode
		wantErr     bool
	}{
		{"call", `[2,"id-1","Heartbeat",{}]`, true, "id-1", 0, false},
		{"call with spaces", ` [ 2 , "x" , "BootNotification" , { "a" : 1 } ] `, true, "x", 0, false},
		{"result is dropped", `[3,"id-2",{}]`, false, "", 0, false},
		{"error is dropped", `[4,"id-3","GenericError","",{}]`, false, "", 0, false},
		{"not json", `hello`, false, unreadableID, FormatViolation, true},
		{"object", `{"a":1}`, false, unreadableID, FormatViolation, true},
		{"too short", `[2,"a"]`, false, unreadableID, FormatViolation, true},
		{"type not a number", `["2","a","Heartbeat",{}]`, false, unreadableID, FormatViolation, true},
		{"id not a string", `[2,7,"Heartbeat",{}]`, false, unreadableID, FormatViolation, true},
		{"id empty", `[2,"","Heartbeat",{}]`, false, unreadableID, FormatViolation, true},
		{"id too long", `[2,"` + strings.Repeat("a", 37) + `","Heartbeat",{}]`, false, unreadableID, FormatViolation, true},
		{"unknown type", `[5,"a","Heartbeat",{}]`, false, "a", MessageTypeNotSupported, true},
		{"call of three", `[2,"a","Heartbeat"]`, false, "a", FormatViolation, true},
		{"call of five", `[2,"a","Heartbeat",{},{}]`, false, "a", FormatViolation, true},
		{"action not a string", `[2,"a",1,{}]`, false, "a", FormatViolation, true},
		{"payload an array", `[2,"a","Heartbeat",[]]`, false, "a", FormatViolation, true},
		{"payload null", `[2,"a","Heartbeat",null]`, false, "a", FormatViolation, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok, rerr := parseFrame([]byte(tc.frame))
			if ok != tc.wantCall || (rerr != nil) != tc.wantErr {
				t.Fatalf("call %v, error %v; want call %v, error %v", ok, rerr, tc.wantCall, tc.wantErr)
			}
			switch {
			case rerr != nil && (rerr.ID != tc.wantID || rerr.Code != tc.wantCode):
				t.Fatalf("error %+v, want id %q code %d", rerr, tc.wantID, tc.wantCode)
			case ok && c.ID != tc.wantID:
				t.Fatalf("id %q, want %q", c.ID, tc.wantID)
			}
		})
	}
}

func TestErrorSpelling(t *testing.T) {
	for _, tc := range []struct {
		code      ErrorCode
		v16, v201 string
	}{
		{FormatViolation, "FormationViolation", "FormatViolation"},
		{OccurrenceConstraintViolation, "OccurenceConstraintViolation", "OccurrenceConstraintViolation"},
		{MessageTypeNotSupported, "ProtocolError", "MessageTypeNotSupported"},
		{TypeConstraintViolation, "TypeConstraintViolation", "TypeConstraintViolation"},
		{InternalError, "InternalError", "InternalError"},
		{GenericError, "GenericError", "GenericError"},
	} {
		if got := OCPP16.spell(tc.code); got != tc.v16 {
			t.Errorf("1.6 spells %d %q, want %q", tc.code, got, tc.v16)
		}
		if got := OCPP201.spell(tc.code); got != tc.v201 {
			t.Errorf("2.0.1 spells %d %q, want %q", tc.code, got, tc.v201)
		}
	}
}

func TestEncodeError(t *testing.T) {
	b := encodeError(OCPP201, &rpcError{ID: "m1", Code: FormatViolation, Description: strings.Repeat("é", 200)})
	var f []any
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f) != 5 || f[0] != 4.0 || f[1] != "m1" || f[2] != "FormatViolation" || len(f[3].(string)) > maxDescription {
		t.Fatalf("CALLERROR %s", b)
	}
	if _, ok := f[4].(map[string]any); !ok {
		t.Fatalf("details %v is not an object", f[4])
	}
}

func TestChooseProtocol(t *testing.T) {
	for header, want := range map[string]Protocol{
		"ocpp1.6":              OCPP16,
		"ocpp2.0.1":            OCPP201,
		"ocpp1.5, ocpp1.6":     OCPP16,
		"ocpp1.6,ocpp2.0.1":    OCPP16,
		" ocpp2.0.1 , ocpp1.6": OCPP201,
		"ocpp2.1":              "",
		"":                     "",
		"OCPP1.6":              "",
	} {
		got, ok := chooseProtocol(header)
		if got != want || ok != (want != "") {
			t.Errorf("chooseProtocol(%q) = %q %v, want %q", header, got, ok, want)
		}
	}
}
