package settings

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestRanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		wantErr string
	}{
		{"positive int", Positive("x.Rows", 1), ""},
		{"zero int", Positive("x.Rows", 0), "x.Rows is 0: must be positive"},
		{"negative int", Positive("x.Rows", math.MinInt), "must be positive"},
		{"zero duration", Positive("x.Linger", time.Duration(0)), "x.Linger is 0s: must be positive"},
		{"negative duration", Positive("x.Linger", -time.Second), "x.Linger is -1s: must be positive"},
		{"NaN rate", Positive("x.Rate", math.NaN()), "x.Rate is NaN: must be positive"},
		{"positive rate", Positive("x.Rate", 0.5), ""},
		{"zero turns off", NotNegative("x.TTL", time.Duration(0)), ""},
		{"negative TTL", NotNegative("x.TTL", -time.Minute), "x.TTL is -1m0s: must not be negative"},
		{"negative NaN", NotNegative("x.Limit", math.NaN()), "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			switch {
			case tt.wantErr == "" && tt.err != nil:
				t.Fatalf("err = %v, want none", tt.err)
			case tt.wantErr != "" && (tt.err == nil || !strings.Contains(tt.err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want %q", tt.err, tt.wantErr)
			}
		})
	}
}
