package standby

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// fakeRow answers one QueryRow with fixed values, or an error.
type fakeRow struct {
	vals []any
	err  error
}

func (r fakeRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	for i, d := range dest {
		switch d := d.(type) {
		case *int64:
			*d = r.vals[i].(int64)
		case *bool:
			*d = r.vals[i].(bool)
		case **int64:
			*d, _ = r.vals[i].(*int64)
		case **time.Time:
			*d, _ = r.vals[i].(*time.Time)
		}
	}
	return nil
}

// fakeDB is a primary or a standby whose positions a test sets.
type fakeDB struct {
	lsn      int64 // insert position (primary) or replay position (standby)
	standby  bool
	identity int64
	down     error
}

func (f *fakeDB) QueryRow(_ context.Context, sql string, _ ...any) pgx.Row {
	switch {
	case f.down != nil:
		return fakeRow{err: f.down}
	case sql == sqlIdentity:
		return fakeRow{vals: []any{f.identity}}
	case sql == sqlPrimary:
		return fakeRow{vals: []any{f.lsn}}
	case !f.standby:
		return fakeRow{vals: []any{false, (*int64)(nil), (*time.Time)(nil), false}}
	}
	lsn := f.lsn
	return fakeRow{vals: []any{true, &lsn, (*time.Time)(nil), false}}
}

// TestLagBound steps a fake primary and standby through a clock: the lag
// is now minus the latest check whose primary position the standby has
// replayed — small on an idle primary, growing while replay is behind.
func TestLagBound(t *testing.T) {
	t.Parallel()
	primary := &fakeDB{lsn: 100, identity: 7}
	standby := &fakeDB{lsn: 100, standby: true, identity: 7}
	m := NewMonitor(primary, standby, Config{MaxLag: 5 * time.Second, CheckInterval: time.Second})
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return clock }
	check := func(wantUsable bool, wantLag time.Duration) {
		t.Helper()
		if err := m.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
		if lag := m.State().Lag(clock); lag != wantLag {
			t.Fatalf("at %s: lag %s, want %s", clock.Format("15:04:05"), lag, wantLag)
		}
		if m.Usable() != wantUsable {
			t.Fatalf("at %s: usable %v, want %v", clock.Format("15:04:05"), m.Usable(), wantUsable)
		}
	}
	if m.Usable() {
		t.Fatal("usable before any check")
	}
	check(true, 0)
	// An idle primary: the same position check after check.
	for range 10 {
		clock = clock.Add(time.Second)
		check(true, 0)
	}
	// Writes the standby does not replay: the bound grows from the last
	// check it had caught up with.
	for i := 1; i <= 6; i++ {
		clock = clock.Add(time.Second)
		primary.lsn += 10
		check(i <= 5, time.Duration(i)*time.Second)
	}
	// Replay catches up with the position of three checks ago.
	standby.lsn = primary.lsn - 20
	clock = clock.Add(time.Second)
	check(true, 3*time.Second)
	// Between checks the bound grows with the clock.
	clock = clock.Add(2500 * time.Millisecond)
	if lag := m.State().Lag(clock); lag != 5500*time.Millisecond || m.Usable() {
		t.Fatalf("between checks: lag %s, usable %v", lag, m.Usable())
	}
	standby.lsn = primary.lsn
	check(true, 0)
}

func TestNotAStandby(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		standby *fakeDB
		want    string
	}{
		{"a primary", &fakeDB{lsn: 5, identity: 7}, "not a standby"},
		{"another cluster's standby", &fakeDB{lsn: 5, standby: true, identity: 8}, "not a copy of the primary"},
		{"down", &fakeDB{down: errors.New("connection refused")}, "connection refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := NewMonitor(&fakeDB{lsn: 5, identity: 7}, c.standby, Config{})
			err := m.Check(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("check: %v, want %q", err, c.want)
			}
			if m.Usable() || !strings.Contains(m.State().Reason, c.want) {
				t.Fatalf("usable %v, reason %q", m.Usable(), m.State().Reason)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	d := Config{}.WithDefaults()
	if d.MaxLag != DefaultMaxLag || d.CheckInterval != 500*time.Millisecond || d.Validate() != nil {
		t.Fatalf("defaults %+v: %v", d, d.Validate())
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative lag", Config{MaxLag: -time.Second, CheckInterval: time.Millisecond, CheckTimeout: time.Second}, "standby.MaxLag is -1s: must be positive"},
		{"check slower than the lag", Config{MaxLag: time.Second, CheckInterval: 2 * time.Second, CheckTimeout: time.Second}, "must be below standby.MaxLag"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
