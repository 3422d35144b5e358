package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gridmetrics/gridmetrics/auth"
	"github.com/gridmetrics/gridmetrics/bench/internal/benchutil"
	"github.com/gridmetrics/gridmetrics/query"
)

// caseNames are the cases, in the order they run.
var caseNames = []string{"energy_1h", "site_energy", "power_15m"}

// queryCase is one timed query.
type queryCase struct {
	name string // key prefix in the final line
	path string // with its query; tier=raw is appended for the raw variant
}

// caseResult holds a case's latencies, sorted, and what answered.
type caseResult struct {
	queryCase
	planned, raw   []time.Duration
	plannedTiers   []string
	rawTiers       []string
	rows           int
	maxRelDiff     float64
	othersFraction float64 // of the machine, used by other processes while timed
}

func (r caseResult) ratio() float64 {
	return float64(benchutil.Percentile(r.raw, 0.5)) / float64(benchutil.Percentile(r.planned, 0.5))
}

func (r caseResult) keyValues() string {
	p := benchutil.Percentile
	return fmt.Sprintf("%[1]s_p50_ms=%.2[2]f %[1]s_p99_ms=%.2[3]f %[1]s_raw_p50_ms=%.2[4]f %[1]s_raw_p99_ms=%.2[5]f %[1]s_ratio=%.1[6]f",
		r.name, benchutil.Ms(p(r.planned, 0.5)), benchutil.Ms(p(r.planned, 0.99)),
		benchutil.Ms(p(r.raw, 0.5)), benchutil.Ms(p(r.raw, 0.99)), r.ratio())
}

// measure serves the dataset with the built binary and times the cases.
func measure(ctx context.Context, cfg config, d dataset, bin, dbURL, dir string) ([]caseResult, error) {
	src, key, err := credentials(ctx, bin, dbURL)
	if err != nil {
		return nil, err
	}
	args := []string{"--rollup-jobs=false"}
	srv, err := benchutil.StartServer(ctx, bin, dbURL, dir, false, args)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	fmt.Printf("server: gridmetrics serve %s (pid %d)\n", strings.Join(args, " "), srv.Cmd.Process.Pid)
	if err := printSizesOf(ctx, dbURL); err != nil {
		return nil, err
	}

	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	month := url.Values{"from": {rfc(d.End.AddDate(0, 0, -30))}, "to": {rfc(d.End)}, "bucket": {"1h"}}.Encode()
	week := url.Values{"from": {rfc(d.End.AddDate(0, 0, -7))}, "to": {rfc(d.End)}, "bucket": {"15m"},
		"metric": {"power_import"}, "agg": {"avg,max"}}.Encode()
	paths := map[string]string{
		"energy_1h":   "/v1/sources/" + src + "/energy?" + month,
		"site_energy": "/v1/sites/" + siteID + "/energy?" + month,
		"power_15m":   "/v1/sources/" + src + "/readings?" + week,
	}
	var cases []queryCase
	for _, name := range caseNames {
		if slices.Contains(strings.Split(cfg.cases, ","), name) {
			cases = append(cases, queryCase{name, paths[name]})
		}
	}
	c := client{base: srv.Base, key: key, hc: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true},
		Timeout:   5 * time.Minute,
	}}
	var out []caseResult
	for _, qc := range cases {
		r, err := runCase(ctx, c, qc, cfg, srv.Cmd.Process.Pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", qc.name, err)
		}
		p := benchutil.Percentile
		fmt.Printf("%-11s rollups (%s) p50 %7.2f ms, p99 %7.2f ms; raw p50 %8.2f ms, p99 %8.2f ms; %5.1f × (target ≥ %d); %d rows equal (largest relative difference %.1e)\n",
			r.name, strings.Join(r.plannedTiers, ","), benchutil.Ms(p(r.planned, 0.5)), benchutil.Ms(p(r.planned, 0.99)),
			benchutil.Ms(p(r.raw, 0.5)), benchutil.Ms(p(r.raw, 0.99)), r.ratio(), targetRatio, r.rows, r.maxRelDiff)
		if r.othersFraction > 0.1 {
			fmt.Printf("%-11s warning: other processes used %.0f %% of the machine meanwhile; expect noise\n", "", 100*r.othersFraction)
		}
		out = append(out, r)
	}
	return out, nil
}

// credentials returns the public id of the first charger (CB-0001) and a
// fresh read key made with the binary's apikey create.
func credentials(ctx context.Context, bin, dbURL string) (src, key string, err error) {
	pool, err := benchutil.OpenPool(ctx, dbURL, 1)
	if err != nil {
		return "", "", err
	}
	defer pool.Close()
	tenant, err := auth.NewStore(pool).TenantByRef(ctx, tenantName)
	if err != nil {
		return "", "", fmt.Errorf("find tenant %s: %w", tenantName, err)
	}
	if err := pool.QueryRow(ctx, `SELECT public_id FROM sources WHERE tenant_id = $1 AND external_id = 'CB-0001'`, tenant.ID).Scan(&src); err != nil {
		return "", "", fmt.Errorf("find source CB-0001: %w", err)
	}
	key, err = benchutil.CLI(ctx, bin, "apikey", "create", "--tenant", tenant.PublicID, "--scopes", "read", "--name", "bench-query", "--database-url", dbURL)
	return src, strings.TrimSpace(key), err
}

func printSizesOf(ctx context.Context, dbURL string) error {
	pool, err := benchutil.OpenPool(ctx, dbURL, 1)
	if err != nil {
		return err
	}
	defer pool.Close()
	return printSizes(ctx, pool)
}

// client sends authenticated GETs.
type client struct {
	base, key string
	hc        *http.Client
}

// get returns a 200 answer's body and the time from sending the request
// to reading the last byte.
func (c client) get(ctx context.Context, path string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	began := time.Now()
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	took := time.Since(began)
	if err != nil {
		return nil, 0, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: %s: %.500s", path, res.Status, body)
	}
	return body, took, nil
}

// runCase warms up, then sends the planned and the raw request in turn
// (which goes first alternates), and checks every raw answer against the
// planned answer of the same round.
func runCase(ctx context.Context, c client, qc queryCase, cfg config, serverPID int) (caseResult, error) {
	r := caseResult{queryCase: qc}
	rawPath := qc.path + "&tier=raw"
	round := func(i int, timed bool) error {
		var planned, raw []byte
		for k := range 2 {
			if (i+k)%2 == 0 {
				body, took, err := c.get(ctx, qc.path)
				if err != nil {
					return err
				}
				planned = body
				if timed {
					r.planned = append(r.planned, took)
				}
			} else {
				body, took, err := c.get(ctx, rawPath)
				if err != nil {
					return err
				}
				raw = body
				if timed {
					r.raw = append(r.raw, took)
				}
			}
		}
		return r.check(planned, raw)
	}
	for i := range cfg.warmup {
		if err := round(i, false); err != nil {
			return r, err
		}
	}
	serverBefore, _, _ := benchutil.CPUTime(serverPID)
	selfBefore, _, _ := benchutil.CPUTime(os.Getpid())
	pgBefore, allBefore := benchutil.PostgresCPU(), benchutil.MachineCPU()
	began := time.Now()
	for i := range cfg.iterations {
		if err := round(i, true); err != nil {
			return r, err
		}
	}
	elapsed := time.Since(began)
	serverCPU, _, _ := benchutil.CPUTime(serverPID)
	selfCPU, _, _ := benchutil.CPUTime(os.Getpid())
	pgCPU, allCPU := benchutil.PostgresCPU()-pgBefore, benchutil.MachineCPU()-allBefore
	others := allCPU - (serverCPU - serverBefore) - (selfCPU - selfBefore) - pgCPU
	r.othersFraction = max(0, others.Seconds()) / (elapsed.Seconds() * float64(runtime.NumCPU()))
	slices.Sort(r.planned)
	slices.Sort(r.raw)
	return r, nil
}

// answer is the part of a response the check reads.
type answer struct {
	Data any            `json:"data"`
	Meta map[string]any `json:"meta"`
}

// check compares a raw answer with the planned one: data and meta equal
// but for the request id and the tiers; numbers to a relative 1e-9 or one
// step of the grid they are rounded to (roundingStep). It also checks
// that the planned answer used a tier and the raw one none.
func (r *caseResult) check(planned, raw []byte) error {
	var p, q answer
	if err := decode(planned, &p); err != nil {
		return fmt.Errorf("planned answer: %w", err)
	}
	if err := decode(raw, &q); err != nil {
		return fmt.Errorf("raw answer: %w", err)
	}
	r.plannedTiers, r.rawTiers = tiers(p.Meta), tiers(q.Meta)
	if !slices.Equal(r.rawTiers, []string{"raw"}) {
		return fmt.Errorf("the tier=raw answer came from %v, want raw readings only", r.rawTiers)
	}
	if len(r.plannedTiers) == 0 || slices.Equal(r.plannedTiers, []string{"raw"}) {
		return fmt.Errorf("the planned answer read no rollup tier (tiers %v): nothing to compare", r.plannedTiers)
	}
	for _, m := range []map[string]any{p.Meta, q.Meta} {
		delete(m, "request_id")
		delete(m, "tiers")
	}
	rows, ok := p.Data.([]any)
	if !ok || len(rows) == 0 {
		return fmt.Errorf("the planned answer has no rows: %.300s", planned)
	}
	r.rows = len(rows)
	for _, part := range []struct {
		name string
		a, b any
	}{{"data", p.Data, q.Data}, {"meta", p.Meta, q.Meta}} {
		if err := equal(part.name, part.a, part.b, &r.maxRelDiff); err != nil {
			return fmt.Errorf("the answers differ: %w\nplanned: %.400s\nraw:     %.400s", err, planned, raw)
		}
	}
	return nil
}

func decode(body []byte, a *answer) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(a); err != nil {
		return fmt.Errorf("%w: %.300s", err, body)
	}
	return nil
}

func tiers(meta map[string]any) []string {
	list, _ := meta["tiers"].([]any)
	var out []string
	for _, t := range list {
		s, _ := t.(string)
		out = append(out, s)
	}
	return out
}

// relTolerance is how far two numbers of the answers may be apart,
// relative to the larger; absTolerance is the floor for numbers near
// zero, where the last bits of two sums of the same terms in another
// order are all that is left.
const (
	relTolerance = 1e-9
	absTolerance = 1e-12
)

// roundingStep is the step of the decimal grid the number at path is
// rounded to (docs/numbers.md): the two answers sum the same terms in
// another order, so a value at a half step may land one step apart.
// The readings case reads power_import, in W.
func roundingStep(path string) float64 {
	key := path[strings.LastIndexByte(path, '.')+1:]
	switch {
	case strings.HasSuffix(key, "_kwh"):
		return math.Pow10(-query.EnergyDecimals)
	case key == "avg" || key == "max":
		return math.Pow10(-query.UnitDecimals("W"))
	}
	return 0
}

// equal compares decoded JSON values, numbers within the tolerance; it
// names the first difference by its path and tracks the largest relative
// difference of numbers.
func equal(path string, a, b any, maxRel *float64) error {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return fmt.Errorf("%s: %v vs %v", path, a, b)
		}
		if x == y {
			return nil
		}
		fx, err1 := x.Float64()
		fy, err2 := y.Float64()
		if err1 != nil || err2 != nil {
			return fmt.Errorf("%s: %s vs %s", path, x, y)
		}
		diff, scale := math.Abs(fx-fy), math.Max(math.Abs(fx), math.Abs(fy))
		if diff > absTolerance {
			*maxRel = math.Max(*maxRel, diff/scale)
		}
		if diff > relTolerance*scale && diff > absTolerance && diff > roundingStep(path)*(1+1e-6) {
			return fmt.Errorf("%s: %s vs %s (relative difference %.2e)", path, x, y, diff/scale)
		}
		return nil
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return fmt.Errorf("%s: %v vs %v", path, a, b)
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok {
				return fmt.Errorf("%s.%s: missing from the raw answer", path, k)
			}
			if err := equal(path+"."+k, v, w, maxRel); err != nil {
				return err
			}
		}
		return nil
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return fmt.Errorf("%s: %d items vs %v", path, len(x), lenOf(b))
		}
		for i := range x {
			if err := equal(fmt.Sprintf("%s[%d]", path, i), x[i], y[i], maxRel); err != nil {
				return err
			}
		}
		return nil
	default:
		if a != b {
			return fmt.Errorf("%s: %v vs %v", path, a, b)
		}
		return nil
	}
}

func lenOf(v any) string {
	if l, ok := v.([]any); ok {
		return fmt.Sprintf("%d items", len(l))
	}
	return fmt.Sprintf("%v", v)
}
