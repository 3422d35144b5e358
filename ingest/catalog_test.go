package ingest

import (
	"strings"
	"testing"
	"time"
)

func TestLimitsCheckRow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 1, 7, 30, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		name     string
		limits   Limits
		at       time.Time
		wantCode string
		wantMsg  []string
	}{
		{name: "recent", limits: Limits{MaxSkew: time.Minute, RawRetention: 90 * day}, at: now.Add(-time.Hour)},
		{name: "clock reset", limits: Limits{MaxSkew: time.Minute, RawRetention: 90 * day}, at: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC),
			wantCode: CodeTimeTooOld, wantMsg: []string{"raw retention of 90d", "before 2026-09-03T01:15:00Z"}},
		// The bound is rounded up to a 15-minute bucket: the one holding
		// the cutoff was partly deleted already.
		{name: "in the bucket of the cutoff", limits: Limits{RawRetention: 90 * day}, at: now.Add(-90*day + time.Minute),
			wantCode: CodeTimeTooOld},
		{name: "first whole bucket", limits: Limits{RawRetention: 90 * day}, at: time.Date(2026, 9, 3, 1, 15, 0, 0, time.UTC)},
		{name: "kept forever", limits: Limits{RawRetention: -1}, at: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "no retention, before 2000", limits: Limits{}, at: time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC),
			wantCode: CodeTimeTooOld, wantMsg: []string{"before 2000-01-01"}},
		{name: "long retention, before 2000", limits: Limits{RawRetention: 100 * 365 * day}, at: time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC),
			wantCode: CodeTimeTooOld, wantMsg: []string{"before 2000-01-01"}},
		{name: "future", limits: Limits{MaxSkew: time.Minute, RawRetention: 90 * day}, at: now.Add(2 * time.Minute),
			wantCode: CodeTimeInFuture},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, msg := tt.limits.bounds(now).checkRow(Row{Time: tt.at, Value: 1})
			if code != tt.wantCode {
				t.Fatalf("code %q (%s), want %q", code, msg, tt.wantCode)
			}
			for _, want := range tt.wantMsg {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
		})
	}
}
