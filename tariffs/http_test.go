package tariffs_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"PT1H", time.Hour, false},
		{"PT1H30M", 90 * time.Minute, false},
		{"pt90m", 90 * time.Minute, false},
		{"PT0.5H", 30 * time.Minute, false},
		{"PT1,5H", 90 * time.Minute, false},
		{"P1DT2H", 26 * time.Hour, false},
		{"P1W", 7 * 24 * time.Hour, false},
		{"PT45S", 45 * time.Second, false},
		{"90m", 90 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"P1M", 0, true},    // months have no fixed length
		{"P1Y", 0, true},    // nor years
		{"PT", 0, true},     // no components
		{"P", 0, true},      // none at all
		{"PT1M1H", 0, true}, // out of order
		{"PTH", 0, true},    // no number
		{"P1H", 0, true},    // hours need the T
		{"PT0S", 0, true},   // not positive
		{"-5m", 0, true},
		{"two hours", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := tariffs.ParseDuration(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestQuoteSession(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	start := time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC)
	type period struct {
		at   time.Time
		dims map[tariffs.DimensionType]string
	}
	tests := []struct {
		name    string
		req     tariffs.QuoteRequest
		end     time.Time
		periods []period
		field   string // of the VALIDATION_ERROR; "" for success
	}{
		{"charging and parking", tariffs.QuoteRequest{Start: &start, Duration: "PT1H30M", EnergyKWh: "20", ParkingMinutes: "15"},
			start.Add(105 * time.Minute), []period{
				{start, map[tariffs.DimensionType]string{tariffs.DimTime: "1.5", tariffs.DimEnergy: "20"}},
				{start.Add(90 * time.Minute), map[tariffs.DimensionType]string{tariffs.DimParkingTime: "0.25"}},
			}, ""},
		{"now, minutes, power and current", tariffs.QuoteRequest{DurationMinutes: "45", MaxPowerKW: "22", MaxCurrentA: "32"},
			now.Add(45 * time.Minute), []period{
				{now, map[tariffs.DimensionType]string{tariffs.DimTime: "0.75", tariffs.DimEnergy: "0", tariffs.DimMaxPower: "22", tariffs.DimMaxCurrent: "32"}},
			}, ""},
		{"energy over power", tariffs.QuoteRequest{Start: &start, EnergyKWh: "30", MaxPowerKW: "7.2"},
			start.Add(4*time.Hour + 10*time.Minute), []period{
				{start, map[tariffs.DimensionType]string{tariffs.DimTime: "4.166666666666666667", tariffs.DimEnergy: "30", tariffs.DimMaxPower: "7.2"}},
			}, ""},
		{"no duration", tariffs.QuoteRequest{EnergyKWh: "30"}, time.Time{}, nil, "duration"},
		{"both durations", tariffs.QuoteRequest{Duration: "1h", DurationMinutes: "60"}, time.Time{}, nil, "duration"},
		{"bad duration", tariffs.QuoteRequest{Duration: "soon"}, time.Time{}, nil, "duration"},
		{"zero minutes", tariffs.QuoteRequest{DurationMinutes: "0"}, time.Time{}, nil, "duration_minutes"},
		{"negative energy", tariffs.QuoteRequest{Duration: "1h", EnergyKWh: "-1"}, time.Time{}, nil, "energy_kwh"},
		{"zero power", tariffs.QuoteRequest{Duration: "1h", MaxPowerKW: "0"}, time.Time{}, nil, "max_power_kw"},
		{"negative parking", tariffs.QuoteRequest{Duration: "1h", ParkingMinutes: "-5"}, time.Time{}, nil, "parking_minutes"},
		{"too long", tariffs.QuoteRequest{Duration: "P100D"}, time.Time{}, nil, "duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.req.Session(now)
			if tt.field != "" {
				if e := wantCode(t, err, api.CodeValidation); !strings.HasPrefix(e.Message, tt.field+": ") {
					t.Errorf("message %q does not name %s", e.Message, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.periods[0].at; !s.Start.Equal(want) || !s.End.Equal(tt.end) {
				t.Errorf("session %s–%s, want %s–%s", s.Start, s.End, want, tt.end)
			}
			if len(s.ChargingPeriods) != len(tt.periods) {
				t.Fatalf("%d periods, want %d: %+v", len(s.ChargingPeriods), len(tt.periods), s.ChargingPeriods)
			}
			for i, p := range s.ChargingPeriods {
				w := tt.periods[i]
				if !p.StartDateTime.Equal(w.at) || len(p.Dimensions) != len(w.dims) {
					t.Errorf("period %d: %+v, want %+v", i, p, w)
					continue
				}
				for _, d := range p.Dimensions {
					if want, ok := w.dims[d.Type]; !ok || d.Volume.Cmp(decimal.MustParse(want)) != 0 {
						t.Errorf("period %d: %s = %s, want %s", i, d.Type, d.Volume, want)
					}
				}
			}
			// Every session a quote builds is one the engine prices.
			tf := tariffOpts{}.tariff(t)
			if _, err := tariffs.PriceSession(tf, s); err != nil {
				t.Errorf("PriceSession: %v", err)
			}
		})
	}
}

func TestOwnTariff(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("testdata", "golden", "tou_evening.cdr.json"))
	if err != nil {
		t.Fatal(err)
	}
	// variant edits the CDR (tariff tou-3, every period naming it).
	variant := func(edit func(m map[string]any)) *tariffs.CDR {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ := json.Marshal(m)
		c, err := tariffs.ParseCDR(b)
		if err != nil {
			t.Fatalf("ParseCDR: %v", err)
		}
		return c
	}
	periods := func(m map[string]any) []any { return m["charging_periods"].([]any) }
	secondTariff := func(m map[string]any) {
		other := map[string]any{}
		b, _ := json.Marshal(m["tariffs"].([]any)[0])
		_ = json.Unmarshal(b, &other)
		other["id"] = "other"
		m["tariffs"] = append([]any{other}, m["tariffs"].([]any)...)
	}
	tests := []struct {
		name     string
		edit     func(m map[string]any)
		wantID   string
		wantPath string
	}{
		{"named by the periods", func(map[string]any) {}, "tou-3", ""},
		{"named among several", secondTariff, "tou-3", ""},
		{"the only one", func(m map[string]any) {
			for _, p := range periods(m) {
				delete(p.(map[string]any), "tariff_id")
			}
		}, "tou-3", ""},
		{"several, none named", func(m map[string]any) {
			secondTariff(m)
			for _, p := range periods(m) {
				delete(p.(map[string]any), "tariff_id")
			}
		}, "", "tariffs"},
		{"named but absent", func(m map[string]any) { periods(m)[0].(map[string]any)["tariff_id"] = "nope" }, "", "charging_periods[0].tariff_id"},
		{"none", func(m map[string]any) {
			delete(m, "tariffs")
			for _, p := range periods(m) {
				delete(p.(map[string]any), "tariff_id")
			}
		}, "", "tariffs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := variant(tt.edit).OwnTariff()
			if tt.wantPath == "" {
				if err != nil || got.ID != tt.wantID {
					t.Fatalf("got %v, %v; want tariff %s", got, err, tt.wantID)
				}
				return
			}
			var ve *tariffs.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != tt.wantPath {
				t.Fatalf("err = %v, want one problem at %s", err, tt.wantPath)
			}
		})
	}
}
