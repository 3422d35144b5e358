package grafana

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// variable is a dashboard variable's value for one run of a query.
type variable struct {
	values []string
	// multi marks a variable with multi or includeAll set: Grafana quotes
	// each value as an SQL string and joins them with commas. A single
	// value is put in as it is (the query quotes it).
	multi bool
}

// expansion is what Grafana puts into a query: the dashboard's time range,
// the panel's interval, the variables' values and whether the data source
// has its timescaledb option on.
type expansion struct {
	from, to    time.Time
	interval    time.Duration
	vars        map[string]variable
	timescaledb bool
}

// expand turns a dashboard query into the SQL Grafana's PostgreSQL data
// source sends: template variables first (as the front end does), then
// $__interval, then the data source's macros.
func (e expansion) expand(sql string) (string, error) {
	names := make([]string, 0, len(e.vars)+2)
	for n := range e.vars {
		names = append(names, n)
	}
	// Longest first, so $site never eats the start of $site_id.
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, n := range names {
		v := e.vars[n]
		text := strings.Join(v.values, ",")
		if v.multi {
			quoted := make([]string, len(v.values))
			for i, s := range v.values {
				quoted[i] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
			}
			text = strings.Join(quoted, ",")
		}
		sql = strings.ReplaceAll(sql, "${"+n+"}", text)
		sql = regexp.MustCompile(`\$`+regexp.QuoteMeta(n)+`\b`).ReplaceAllLiteralString(sql, text)
	}
	sql = strings.ReplaceAll(sql, "$__interval_ms", strconv.FormatInt(e.interval.Milliseconds(), 10))
	sql = strings.ReplaceAll(sql, "$__interval", formatInterval(e.interval))
	sql = strings.ReplaceAll(sql, "$__unixEpochFrom()", strconv.FormatInt(e.from.Unix(), 10))
	sql = strings.ReplaceAll(sql, "$__unixEpochTo()", strconv.FormatInt(e.to.Unix(), 10))

	var failed error
	out := macroCall.ReplaceAllStringFunc(sql, func(call string) string {
		m := macroCall.FindStringSubmatch(call)
		name := m[1]
		// As Grafana: $__timeGroup directly followed by a comma is the
		// pre-5.3 form that also names the column.
		if name == "__timeGroup" {
			if i := strings.Index(sql, call); i >= 0 && i+len(call) < len(sql) && sql[i+len(call)] == ',' {
				name = "__timeGroupAlias"
			}
		}
		args := strings.Split(m[2], ",")
		for i := range args {
			args[i] = strings.TrimSpace(args[i])
		}
		s, err := e.macro(name, args)
		if err != nil && failed == nil {
			failed = err
		}
		return s
	})
	if failed != nil {
		return "", failed
	}
	if i := strings.Index(out, "$"); i >= 0 {
		return "", fmt.Errorf("unexpanded %q in %s", out[i:min(len(out), i+20)], out)
	}
	return out, nil
}

var macroCall = regexp.MustCompile(`\$([_a-zA-Z0-9]+)\(([^\)]*)\)`)

func (e expansion) macro(name string, args []string) (string, error) {
	from, to := e.from.UTC().Format(time.RFC3339Nano), e.to.UTC().Format(time.RFC3339Nano)
	needColumn := func() error {
		if len(args) == 0 || args[0] == "" {
			return fmt.Errorf("macro %s needs a column", name)
		}
		return nil
	}
	switch name {
	case "__time":
		return args[0] + ` AS "time"`, needColumn()
	case "__timeEpoch":
		return "extract(epoch from " + args[0] + `) as "time"`, needColumn()
	case "__timeFilter":
		return fmt.Sprintf("%s BETWEEN '%s' AND '%s'", args[0], from, to), needColumn()
	case "__timeFrom":
		return "'" + from + "'", nil
	case "__timeTo":
		return "'" + to + "'", nil
	case "__timeGroup", "__unixEpochGroup":
		if len(args) < 2 {
			return "", fmt.Errorf("macro %s needs a column and an interval", name)
		}
		if len(args) == 3 {
			return "", fmt.Errorf("macro %s: the fill argument is not supported here", name)
		}
		d, err := parseInterval(strings.Trim(args[1], "'"))
		if err != nil {
			return "", fmt.Errorf("macro %s: %w", name, err)
		}
		s := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
		switch {
		case name == "__unixEpochGroup":
			return fmt.Sprintf("floor((%s)/%s)*%s", args[0], s, s), nil
		case e.timescaledb:
			return fmt.Sprintf("time_bucket('%.3fs',%s)", d.Seconds(), args[0]), nil
		}
		return fmt.Sprintf("floor(extract(epoch from %s)/%s)*%s", args[0], s, s), nil
	case "__timeGroupAlias", "__unixEpochGroupAlias":
		s, err := e.macro(strings.TrimSuffix(name, "Alias"), args)
		return s + ` AS "time"`, err
	case "__unixEpochFilter":
		return fmt.Sprintf("%s >= %d AND %s <= %d", args[0], e.from.Unix(), args[0], e.to.Unix()), needColumn()
	case "__unixEpochNanoFilter":
		return fmt.Sprintf("%s >= %d AND %s <= %d", args[0], e.from.UnixNano(), args[0], e.to.UnixNano()), needColumn()
	case "__unixEpochNanoFrom":
		return strconv.FormatInt(e.from.UnixNano(), 10), nil
	case "__unixEpochNanoTo":
		return strconv.FormatInt(e.to.UnixNano(), 10), nil
	}
	return "", fmt.Errorf("unknown macro %q", name)
}

// parseInterval reads Grafana's interval syntax: a whole number and one of
// ms, s, m, h, d, w or y.
func parseInterval(s string) (time.Duration, error) {
	m := regexp.MustCompile(`^(\d+)(ms|s|m|h|d|w|y)$`).FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("interval %q: want a number and ms, s, m, h, d, w or y", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("interval %q: %w", s, err)
	}
	unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
		"d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}[m[2]]
	return time.Duration(n) * unit, nil
}

// formatInterval writes an interval as Grafana's $__interval does: in the
// largest unit that divides it.
func formatInterval(d time.Duration) string {
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

func TestExpand(t *testing.T) {
	e := expansion{
		from:     time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		to:       time.Date(2026, 3, 2, 6, 30, 0, 0, time.UTC),
		interval: time.Hour,
		vars: map[string]variable{
			"tenant": {values: []string{"ten_1"}},
			"site":   {values: []string{"depot", "o'hare"}, multi: true},
		},
	}
	ts := e
	ts.timescaledb = true
	tests := []struct {
		name string
		e    expansion
		in   string
		want string
	}{
		{"filter and variables", e, "WHERE $__timeFilter(time) AND tenant = '$tenant' AND site IN ($site)",
			"WHERE time BETWEEN '2026-03-01T00:00:00Z' AND '2026-03-02T06:30:00Z' AND tenant = 'ten_1' AND site IN ('depot','o''hare')"},
		{"braced variable", e, "'${tenant}'", "'ten_1'"},
		{"group alias", e, "SELECT $__timeGroupAlias(time, $__interval), x", `SELECT floor(extract(epoch from time)/3600)*3600 AS "time", x`},
		{"group alias on timescaledb", ts, "SELECT $__timeGroupAlias(time, '15m')", `SELECT time_bucket('900.000s',time) AS "time"`},
		{"old group form", e, "SELECT $__timeGroup(time, '1d'), x", `SELECT floor(extract(epoch from time)/86400)*86400 AS "time", x`},
		{"group in order by", e, "ORDER BY $__timeGroup(time, '1d')", `ORDER BY floor(extract(epoch from time)/86400)*86400`},
		{"time", e, "SELECT $__time(t)", `SELECT t AS "time"`},
		{"epoch filter", e, "$__unixEpochFilter(ts)", "ts >= 1772323200 AND ts <= 1772433000"},
		{"epoch group", e, "$__unixEpochGroupAlias(ts, 5m)", `floor((ts)/300)*300 AS "time"`},
		{"from and to", e, "$__timeFrom() $__timeTo() $__unixEpochFrom()", "'2026-03-01T00:00:00Z' '2026-03-02T06:30:00Z' 1772323200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.e.expand(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"$__nope(time)", "$__timeGroup(time)", "$__timeGroup(time, 'x')", "$unknown"} {
		if got, err := e.expand(bad); err == nil {
			t.Errorf("%s: expanded to %s, want an error", bad, got)
		}
	}
}
