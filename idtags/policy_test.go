package idtags_test

import (
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/idtags"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	tests := []struct {
		name     string
		mode     idtags.Mode
		listed   *idtags.Tag
		want16   string
		want201  string
		wantDate bool
	}{
		{name: "accept_all, unlisted", mode: idtags.AcceptAll, want16: "Accepted", want201: "Accepted"},
		{name: "accept_all ignores a blocked entry", mode: idtags.AcceptAll,
			listed: &idtags.Tag{Tag: "A", Status: idtags.TagBlocked}, want16: "Accepted", want201: "Accepted"},
		{name: "list, unlisted", mode: idtags.List, want16: "Invalid", want201: "Unknown"},
		{name: "list, accepted", mode: idtags.List, listed: &idtags.Tag{Tag: "A", Status: idtags.TagAccepted},
			want16: "Accepted", want201: "Accepted"},
		{name: "list, accepted until later", mode: idtags.List,
			listed: &idtags.Tag{Tag: "A", Status: idtags.TagAccepted, ExpiresAt: &future},
			want16: "Accepted", want201: "Accepted", wantDate: true},
		{name: "list, expired", mode: idtags.List, listed: &idtags.Tag{Tag: "A", Status: idtags.TagAccepted, ExpiresAt: &past},
			want16: "Expired", want201: "Expired", wantDate: true},
		{name: "list, expiring this instant", mode: idtags.List, listed: &idtags.Tag{Tag: "A", Status: idtags.TagAccepted, ExpiresAt: &now},
			want16: "Expired", want201: "Expired", wantDate: true},
		{name: "list, blocked", mode: idtags.List, listed: &idtags.Tag{Tag: "A", Status: idtags.TagBlocked},
			want16: "Blocked", want201: "Blocked"},
		{name: "list, blocked and expired", mode: idtags.List, listed: &idtags.Tag{Tag: "A", Status: idtags.TagBlocked, ExpiresAt: &past},
			want16: "Blocked", want201: "Blocked", wantDate: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := idtags.Decide(tt.mode, tt.listed, now)
			i16, i201 := d.OCPP16(), d.OCPP201()
			if i16["status"] != tt.want16 || i201["status"] != tt.want201 {
				t.Fatalf("got %v / %v, want %s / %s", i16, i201, tt.want16, tt.want201)
			}
			if _, ok := i16["expiryDate"]; ok != tt.wantDate {
				t.Fatalf("idTagInfo %v: expiryDate present %v, want %v", i16, ok, tt.wantDate)
			}
		})
	}
}

func TestKeyIsCaseInsensitive(t *testing.T) {
	for _, pair := range [][2]string{{"rfid-0001", "RFID-0001"}, {"AbCdEf", "aBcDeF"}, {"04:a2:7f", "04:A2:7F"}} {
		if idtags.Key(pair[0]) != idtags.Key(pair[1]) {
			t.Errorf("%q and %q have different keys", pair[0], pair[1])
		}
	}
	if idtags.Key("RFID-1") == idtags.Key("RFID-2") {
		t.Error("distinct tags share a key")
	}
}

func TestValidateTag(t *testing.T) {
	for _, ok := range []string{"A", "RFID-0001", "04A27F3B2C8D11", "abcdefghijklmnopqrstuvwxyz0123456789"} {
		if err := idtags.ValidateTag(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "abcdefghijklmnopqrstuvwxyz01234567890", "tab\there", "ünicode"} {
		if idtags.ValidateTag(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
