package tariffs

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// editExample returns the specification's CDR with edit applied to it as a
// JSON object.
func editExample(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(readExample(t, "cdr_example.json")))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func problemStrings(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// TestParseCDRLenient: a CDR lacking what pricing does not need is priced
// as the complete one is, and each problem ParseCDR refuses it for is a
// warning instead; a CDR lacking what pricing needs is refused, with only
// those problems.
func TestParseCDRLenient(t *testing.T) {
	t.Parallel()
	sub := func(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		want []string // warnings; with wantErr, the problems refusing it
		// wantErr: refused leniently too.
		wantErr bool
	}{
		{"complete", func(map[string]any) {}, nil, false},
		{"no country_code", func(m map[string]any) { delete(m, "country_code") }, []string{"country_code: is required"}, false},
		{"no party_id", func(m map[string]any) { delete(m, "party_id") }, []string{"party_id: is required"}, false},
		{"no cdr_token", func(m map[string]any) { delete(m, "cdr_token") }, []string{"cdr_token: is required"}, false},
		{"no cdr_location", func(m map[string]any) { delete(m, "cdr_location") }, []string{"cdr_location: is required"}, false},
		{"no auth_method", func(m map[string]any) { delete(m, "auth_method") }, []string{"auth_method: is required"}, false},
		{"empty strings", func(m map[string]any) {
			m["country_code"], m["party_id"], m["auth_method"] = "", "", ""
			sub(m, "cdr_token")["uid"] = ""
			loc := sub(m, "cdr_location")
			loc["address"], loc["connector_format"] = "", ""
			sub(loc, "coordinates")["latitude"] = ""
		}, []string{
			"country_code: is required", "party_id: is required", "cdr_token.uid: is required", "auth_method: is required",
			"cdr_location.address: is required", "cdr_location.coordinates.latitude: is required", "cdr_location.connector_format: is required",
		}, false},
		{"only what pricing needs", func(m map[string]any) {
			for _, k := range []string{"country_code", "party_id", "id", "cdr_token", "auth_method", "cdr_location", "total_cost",
				"total_energy", "total_time", "total_time_cost", "last_updated"} {
				delete(m, k)
			}
			m["x_partner_ref"] = "A-17"
			m["credit_reference_id"] = strings.Repeat("r", 40)
		}, []string{
			"country_code: is required", "party_id: is required", "id: is required", "cdr_token: is required",
			"auth_method: is required", "cdr_location: is required", "total_cost: is required", "total_energy: is required",
			"total_time: is required", "credit_reference_id: is longer than 39 characters", "last_updated: is required",
			"x_partner_ref: unknown field",
		}, false},
		{"wrong types and values", func(m map[string]any) {
			m["cdr_location"] = "Gent"
			m["auth_method"] = "PIN"
			sub(m, "cdr_token")["type"] = "BADGE"
			m["last_updated"] = "yesterday"
		}, []string{
			`cdr_token.type: "BADGE" is not a token type (AD_HOC_USER, APP_USER, OTHER, RFID)`,
			`auth_method: "PIN" is not an auth method (AUTH_REQUEST, COMMAND, WHITELIST)`,
			"cdr_location: must be an object, not a string",
			`last_updated: "yesterday" is not an RFC 3339 date-time`,
		}, false},
		{"no currency", func(m map[string]any) { delete(m, "currency"); delete(m, "country_code") }, []string{"currency: is required"}, true},
		{"no start", func(m map[string]any) { delete(m, "start_date_time"); delete(m, "cdr_token") }, []string{"start_date_time: is required"}, true},
		{"no end", func(m map[string]any) { delete(m, "end_date_time") }, []string{"end_date_time: is required"}, true},
		{"no periods", func(m map[string]any) { delete(m, "charging_periods") }, []string{"charging_periods: is required"}, true},
		{"bad dimension", func(m map[string]any) {
			m["charging_periods"].([]any)[0].(map[string]any)["dimensions"] = []any{map[string]any{"type": "HOURS", "volume": 1}}
			delete(m, "party_id")
		}, []string{`charging_periods[0].dimensions[0].type: "HOURS" is not a CDR dimension type`}, true},
		{"period without start", func(m map[string]any) {
			delete(m["charging_periods"].([]any)[0].(map[string]any), "start_date_time")
		}, []string{"charging_periods[0].start_date_time: is required"}, true},
		{"bad credit", func(m map[string]any) { m["credit"] = "yes" }, []string{"credit: must be true or false, not a string"}, true},
		{"tariff without its identity", func(m map[string]any) {
			delete(m["tariffs"].([]any)[0].(map[string]any), "country_code")
		}, []string{"tariffs[0].country_code: is required"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := editExample(t, tc.edit)
			strictCDR, strictErr := ParseCDR(data)
			c, err := ParseCDRLenient(data)
			if tc.wantErr {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("err = %v, want a *ValidationError", err)
				}
				if got := problemStrings(ve.Problems); !slices.Equal(got, tc.want) {
					t.Errorf("problems\n%q\nwant\n%q", got, tc.want)
				}
				if strictErr == nil {
					t.Error("ParseCDR accepts it")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// ParseCDR refuses for exactly the problems that are warnings here.
			if len(tc.want) == 0 {
				if strictErr != nil {
					t.Fatalf("ParseCDR: %v", strictErr)
				}
			} else {
				var ve *ValidationError
				if !errors.As(strictErr, &ve) {
					t.Fatalf("ParseCDR: err = %v (%v), want a *ValidationError", strictErr, strictCDR)
				}
				if got := problemStrings(ve.Problems); !sameSet(got, tc.want) {
					t.Errorf("ParseCDR's problems %q differ from the warnings %q", got, tc.want)
				}
			}
			if got := problemStrings(c.ReadWarnings()); !slices.Equal(got, tc.want) {
				t.Errorf("read warnings\n%q\nwant\n%q", got, tc.want)
			}
			tf, err := c.OwnTariff()
			if err != nil {
				t.Fatal(err)
			}
			out, r, err := c.Reprice(tf)
			if err != nil {
				t.Fatal(err)
			}
			// Priced as the complete CDR: 2 h × 2.00, 10 % VAT.
			wantAmount(t, "total", r.Totals.Total, "4.00", "4.40")
			wantDec(t, "total_time", out.TotalTime, "1.9731")
			if got := problemStrings(c.Warnings(r)); !slices.Equal(got, tc.want) {
				t.Errorf("warnings\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// volumesCDR is a CDR from 10:00 to 12:00 UTC with the periods given and
// more top-level members, priced by its tariff: ENERGY 0.25/kWh, TIME
// 2.00/h, PARKING_TIME 1.00/h, no VAT, no step.
func volumesCDR(periods string, more string) []byte {
	return []byte(`{"country_code":"NL","party_id":"GMX","id":"c1","start_date_time":"2024-03-04T10:00:00Z","end_date_time":"2024-03-04T12:00:00Z",
 "cdr_token":{"country_code":"NL","party_id":"GMX","uid":"u1","type":"RFID","contract_id":"NL-GMX-1"},"auth_method":"WHITELIST",
 "cdr_location":{"id":"L1","address":"Straat 1","city":"Utrecht","country":"NLD","coordinates":{"latitude":"52.09","longitude":"5.12"},
  "evse_uid":"E1","evse_id":"NL*GMX*E1","connector_id":"1","connector_standard":"IEC_62196_T2","connector_format":"SOCKET","connector_power_type":"AC_3_PHASE"},
 "currency":"EUR","tariffs":[{"country_code":"NL","party_id":"GMX","id":"t1","currency":"EUR","elements":[{"price_components":[
  {"type":"ENERGY","price":0.25,"step_size":1},{"type":"TIME","price":2.00,"step_size":1},{"type":"PARKING_TIME","price":1.00,"step_size":1}]}],
  "last_updated":"2024-01-01T00:00:00Z"}],
 "charging_periods":` + periods + `,"total_cost":{"excl_vat":0},"last_updated":"2024-03-04T12:01:00Z"` + more + `}`)
}

// TestCDRVolumeDisagreements: volumes that disagree with the timestamps or
// the totals are priced by the rule (time by the timestamps, energy by the
// ENERGY volumes) and each disagreement is a warning with both values and
// the difference, whether the CDR was read in full or leniently; rounding
// is not a disagreement.
func TestCDRVolumeDisagreements(t *testing.T) {
	t.Parallel()
	const (
		charging = `{"start_date_time":"2024-03-04T10:00:00Z","dimensions":[{"type":"ENERGY","volume":10},{"type":"TIME","volume":%s}]}`
		parking  = `{"start_date_time":"2024-03-04T11:00:00Z","dimensions":[{"type":"PARKING_TIME","volume":%s}]}`
		agreeing = `,"total_energy":10,"total_time":2,"total_parking_time":1`
	)
	two := func(timeVol, parkVol string) string {
		return "[" + fmt.Sprintf(charging, timeVol) + "," + fmt.Sprintf(parking, parkVol) + "]"
	}
	for _, tc := range []struct {
		name, periods, totals string
		total                 string // at 4 places; excl VAT = incl VAT: no VAT
		energy                string // total_energy written back, default 10
		want                  []string
	}{
		// 1 h TIME × 2.00 + 10 kWh × 0.25 + 1 h PARKING × 1.00.
		{"agreeing", two("1", "1"), agreeing, "5.50", "", nil},
		{"rounding is not a disagreement", two("1.0004", "0.9996"), `,"total_energy":10.0004,"total_time":2.0005,"total_parking_time":1`, "5.50", "", nil},
		{"just past rounding", two("1.0006", "1"), agreeing, "5.50", "", []string{
			"charging_periods[0]: TIME 1.0006 h, but its timestamps (start_date_time to charging_periods[1].start_date_time) make 1 h: the volume is 0.0006 h more; priced by the timestamps",
		}},
		{"periods and totals disagree", two("1.5", "0.25"), `,"total_energy":12.5,"total_time":2.75,"total_parking_time":0.25`, "5.50", "", []string{
			"charging_periods[0]: TIME 1.5 h, but its timestamps (start_date_time to charging_periods[1].start_date_time) make 1 h: the volume is 0.5 h more; priced by the timestamps",
			"charging_periods[1]: PARKING_TIME 0.25 h, but its timestamps (start_date_time to end_date_time) make 1 h: the volume is 0.75 h less; priced by the timestamps",
			"total_energy: 12.5 kWh, but the charging periods' ENERGY volumes add up to 10 kWh: total_energy is 2.5 kWh more; priced by the volumes",
			"total_time: 2.75 h, but the session's charging periods last 2 h by their timestamps (to end_date_time): total_time is 0.75 h more; priced by the timestamps",
			"total_parking_time: 0.25 h, but the periods' parking lasts 1 h by their timestamps: total_parking_time is 0.75 h less; priced by the timestamps",
		}},
		// One period of 2 h, divided 0.5 : 0.25 — charging 80 min, parking
		// 40 min: 4/3 × 2.00 + 2.50 + 2/3 × 1.00 = 5.8333….
		{"both time dimensions in one period", `[{"start_date_time":"2024-03-04T10:00:00Z","dimensions":[{"type":"ENERGY","volume":10},{"type":"TIME","volume":0.5},{"type":"PARKING_TIME","volume":0.25}]}]`,
			`,"total_energy":10,"total_time":2,"total_parking_time":0.6667`, "5.8333", "", []string{
				"charging_periods[0]: TIME 0.5 h + PARKING_TIME 0.25 h = 0.75 h, but its timestamps (start_date_time to end_date_time) make 2 h: the volumes are 1.25 h less; priced by the timestamps",
			}},
		// Two periods of 5.0004 kWh: 0.0008 from total_energy, within the
		// 0.0015 of three written values. 10.0008 kWh is billed as 10.001
		// (step 1 Wh): 2.50025 + 2 h × 2.00.
		{"energy rounding over periods", `[` + strings.Replace(fmt.Sprintf(charging, "1"), "10}", "5.0004}", 1) + `,` +
			`{"start_date_time":"2024-03-04T11:00:00Z","dimensions":[{"type":"ENERGY","volume":5.0004},{"type":"TIME","volume":1}]}]`,
			`,"total_energy":10,"total_time":2`, "6.5003", "10.0008", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := volumesCDR(tc.periods, tc.totals)
			for _, read := range []struct {
				name  string
				parse func([]byte) (*CDR, error)
			}{{"strict", ParseCDR}, {"lenient", ParseCDRLenient}} {
				c, err := read.parse(data)
				if err != nil {
					t.Fatalf("%s: %v", read.name, err)
				}
				out, r, err := c.Reprice(c.Tariffs[0])
				if err != nil {
					t.Fatalf("%s: %v", read.name, err)
				}
				wantAmount(t, read.name+" total", r.CDR.Total, tc.total, tc.total)
				wantDec(t, read.name+" total_energy (the volumes')", out.TotalEnergy, cmp.Or(tc.energy, "10"))
				wantDec(t, read.name+" total_time (the timestamps')", out.TotalTime, "2")
				if got := problemStrings(c.Warnings(r)); !slices.Equal(got, tc.want) {
					t.Errorf("%s warnings\n%q\nwant\n%q", read.name, got, tc.want)
				}
			}
		})
	}

	t.Run("a missing total is not compared", func(t *testing.T) {
		t.Parallel()
		c, err := ParseCDRLenient(volumesCDR(two("1", "1"), `,"total_time":2`))
		if err != nil {
			t.Fatal(err)
		}
		_, r, err := c.Reprice(c.Tariffs[0])
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"total_energy: is required"}
		if got := problemStrings(c.Warnings(r)); !slices.Equal(got, want) {
			t.Errorf("warnings %q, want %q", got, want)
		}
		// Nor when its warning is only counted, past the first 100.
		var unknown strings.Builder
		for i := range 150 {
			fmt.Fprintf(&unknown, `,"partner_field_%d":1`, i)
		}
		c, err = ParseCDRLenient(bytes.Replace(volumesCDR(two("1", "1"), `,"total_time":2`),
			[]byte(`"connector_power_type":"AC_3_PHASE"`), []byte(`"connector_power_type":"AC_3_PHASE"`+unknown.String()), 1))
		if err != nil {
			t.Fatal(err)
		}
		if _, r, err = c.Reprice(c.Tariffs[0]); err != nil {
			t.Fatal(err)
		}
		if w := c.Warnings(r); len(w) != MaxProblems+1 || w[MaxProblems].Message != "… and 51 more warnings (at most 100 are listed)" {
			t.Errorf("%d warnings, last %v", len(w), w[len(w)-1])
		}
	})
}

// TestCDRWarningsAreBounded: a CDR with hundreds of warnings lists 100 and
// counts the rest, and warnings never stop the reading: every period of a
// CDR with more unknown fields than problems are listed is read and priced.
func TestCDRWarningsAreBounded(t *testing.T) {
	t.Parallel()
	const n = 300
	var periods, unknown strings.Builder
	periods.WriteString("[")
	start := time.Date(2024, 3, 4, 10, 0, 0, 0, time.UTC)
	for i := range n {
		if i > 0 {
			periods.WriteString(",")
		}
		// 24 s apart, each claiming a minute of charging.
		fmt.Fprintf(&periods, `{"start_date_time":%q,"dimensions":[{"type":"ENERGY","volume":0.1},{"type":"TIME","volume":0.0167}]}`,
			formatDateTime(start.Add(time.Duration(i)*24*time.Second)))
	}
	periods.WriteString("]")
	for i := range 150 {
		fmt.Fprintf(&unknown, `,"partner_field_%d":1`, i)
	}
	// In cdr_location, read before the periods.
	data := bytes.Replace(volumesCDR(periods.String(), `,"total_energy":30,"total_time":2`),
		[]byte(`"connector_power_type":"AC_3_PHASE"`), []byte(`"connector_power_type":"AC_3_PHASE"`+unknown.String()), 1)
	if _, err := ParseCDR(data); err == nil {
		t.Fatal("ParseCDR accepts 150 unknown fields")
	}
	c, err := ParseCDRLenient(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ChargingPeriods) != n {
		t.Fatalf("%d periods read, want %d", len(c.ChargingPeriods), n)
	}
	read := c.ReadWarnings()
	if len(read) != MaxProblems+1 || read[MaxProblems].Message != "… and 50 more warnings (at most 100 are listed)" {
		t.Fatalf("%d read warnings, last %v", len(read), read[len(read)-1])
	}
	_, r, err := c.Reprice(c.Tariffs[0])
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "energy priced", r.Usage.EnergyKWh, "30")
	// 150 unknown fields and 300 periods of 24 s claiming a minute: 450
	// warnings, 100 listed.
	all := c.Warnings(r)
	if len(all) != MaxProblems+1 || all[MaxProblems].Message != "… and 350 more warnings (at most 100 are listed)" {
		t.Fatalf("%d warnings, last %v", len(all), all[len(all)-1])
	}
	if all[0].String() != "cdr_location.partner_field_0: unknown field" {
		t.Errorf("first warning %v", all[0])
	}
}

// TestSpecAndGoldenCDRsPriceAlikeLeniently: the specification's CDR and the
// golden ones price the same read leniently as read in full, with no warning
// from reading them.
func TestSpecAndGoldenCDRsPriceAlikeLeniently(t *testing.T) {
	t.Parallel()
	inputs, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.cdr.json"))
	inputs = append(inputs, filepath.Join(examplesDir, "cdr_example.json"))
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		full, err := ParseCDR(data)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		lenient, err := ParseCDRLenient(data)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if w := lenient.ReadWarnings(); len(w) != 0 {
			t.Errorf("%s: read warnings %v", in, w)
		}
		a, ra, err := full.Reprice(full.Tariffs[0])
		if err != nil {
			t.Fatal(err)
		}
		b, rb, err := lenient.Reprice(lenient.Tariffs[0])
		if err != nil {
			t.Fatal(err)
		}
		ja, _ := a.MarshalJSON()
		jb, _ := b.MarshalJSON()
		if !bytes.Equal(ja, jb) || ra.Totals.Total != rb.Totals.Total {
			t.Errorf("%s prices differently read leniently:\n%s\n%s", in, ja, jb)
		}
		if wa, wb := full.Warnings(ra), lenient.Warnings(rb); !slices.Equal(wa, wb) {
			t.Errorf("%s: warnings %v read in full, %v leniently", in, wa, wb)
		} else if len(wa) > 0 {
			t.Logf("%s: %v", in, problemStrings(wa))
		}
	}
}
