package ocmf

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeFields(t *testing.T) {
	t.Parallel()
	text := `OCMF|` + samplePayload + `|{"SA":"ECDSA-secp256r1-SHA256","SE":"hex","SM":"application/x-der","SD":"3045"}`
	rec, err := Decode(text)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Text != text || rec.PayloadText != samplePayload {
		t.Fatalf("sections: payload %q", rec.PayloadText)
	}
	wantPayload := Payload{
		FV: "1.0", GI: "KEBA_KCP30", GS: "17619300", GV: "2.8.5", PG: "T32",
		MV: "Phoenix Contact", MM: "EEM-350-D-MCB", MS: "BQ27400330016", MF: "1.0",
		IS: true, IL: "VERIFIED", IF: []string{"RFID_PLAIN", "OCPP_RS_TLS"}, IT: "ISO14443", ID: "1F2D3A4F5506C7",
		TT: "Tarif 1", CT: "EVSEID", CI: "DE*ABC*E123*1",
		RD: []RawReading{
			{TM: "2018-07-24T13:22:04,000+0200 S", TX: "B", RV: "2935.6", RI: "1-b:1.8.0", RU: "kWh", RT: "AC", EF: "", ST: "G"},
			{TM: "2018-07-24T15:02:11,500+0200 S", TX: "E", RV: "2947.15", ST: "G"},
		},
	}
	if !reflect.DeepEqual(rec.Payload, wantPayload) {
		t.Fatalf("payload:\n got %+v\nwant %+v", rec.Payload, wantPayload)
	}
	wantSig := Signature{SA: "ECDSA-secp256r1-SHA256", SE: "hex", SM: "application/x-der", SD: "3045"}
	if rec.Signature != wantSig {
		t.Fatalf("signature %+v", rec.Signature)
	}
	zone := time.FixedZone("", 2*3600)
	want := []Reading{
		{Time: time.Date(2018, 7, 24, 13, 22, 4, 0, zone), TimeText: "2018-07-24T13:22:04,000+0200 S", TimeStatus: TimeSynchronous,
			Reason: "B", Nature: NatureStart, Value: 2935.6, ValueText: "2935.6", Unit: "kWh", Wh: 2935600, Energy: true,
			OBIS: "1-b:1.8.0", Type: "AC", Status: "G"},
		// The end reading inherits unit, OBIS and type.
		{Time: time.Date(2018, 7, 24, 15, 2, 11, 5e8, zone), TimeText: "2018-07-24T15:02:11,500+0200 S", TimeStatus: TimeSynchronous,
			Reason: "E", Nature: NatureEnd, Value: 2947.15, ValueText: "2947.15", Unit: "kWh", Wh: 2947150, Energy: true,
			OBIS: "1-b:1.8.0", Type: "AC", Status: "G"},
	}
	if len(rec.Readings) != len(want) {
		t.Fatalf("%d readings", len(rec.Readings))
	}
	for i := range want {
		got := rec.Readings[i]
		if !got.Time.Equal(want[i].Time) {
			t.Errorf("reading %d time %v, want %v", i, got.Time, want[i].Time)
		}
		got.Time = want[i].Time
		if got != want[i] {
			t.Errorf("reading %d:\n got %+v\nwant %+v", i, got, want[i])
		}
	}
	if rec.Nature(NatureIntermediate) != NatureEnd {
		t.Errorf("nature %s", rec.Nature(NatureIntermediate))
	}
}

// reading makes a one-reading payload with rd as the reading's fields.
func payloadWith(rd string) string {
	return `{"FV":"1.0","PG":"T1","MS":"X","IS":false,"IT":"NONE","RD":[` + rd + `]}`
}

func TestDecodeReadings(t *testing.T) {
	t.Parallel()
	utc := time.UTC
	tests := []struct {
		name    string
		rd      string
		want    Reading // only the fields named in check are compared
		check   []string
		wantErr string
	}{
		{name: "comma fraction", rd: `{"TM":"2026-03-01T12:00:00,123+0100 S","RV":1,"RU":"Wh"}`,
			want: Reading{Time: time.Date(2026, 3, 1, 11, 0, 0, 123e6, utc), TimeStatus: TimeSynchronous}, check: []string{"Time", "TimeStatus"}},
		{name: "point fraction", rd: `{"TM":"2026-03-01T12:00:00.5+0000 I","RV":1,"RU":"Wh"}`,
			want: Reading{Time: time.Date(2026, 3, 1, 12, 0, 0, 5e8, utc), TimeStatus: TimeInformative}, check: []string{"Time", "TimeStatus"}},
		{name: "no fraction", rd: `{"TM":"2026-03-01T12:00:00-0530 U","RV":1,"RU":"Wh"}`,
			want: Reading{Time: time.Date(2026, 3, 1, 17, 30, 0, 0, utc), TimeStatus: TimeUnknown}, check: []string{"Time", "TimeStatus"}},
		{name: "offset with colon", rd: `{"TM":"2026-03-01T12:00:00,000+02:00 R","RV":1,"RU":"Wh"}`,
			want: Reading{Time: time.Date(2026, 3, 1, 10, 0, 0, 0, utc), TimeStatus: TimeRelative}, check: []string{"Time", "TimeStatus"}},
		{name: "Z", rd: `{"TM":"2026-03-01T12:00:00Z S","RV":1,"RU":"Wh"}`,
			want: Reading{Time: time.Date(2026, 3, 1, 12, 0, 0, 0, utc), TimeStatus: TimeSynchronous}, check: []string{"Time", "TimeStatus"}},
		{name: "no time status", rd: `{"TM":"2026-03-01T12:00:00,000+0000","RV":1,"RU":"Wh"}`,
			want: Reading{Time: time.Date(2026, 3, 1, 12, 0, 0, 0, utc)}, check: []string{"Time", "TimeStatus"}},
		{name: "unknown time status", rd: `{"TM":"2026-03-01T12:00:00,000+0000 Q","RV":1,"RU":"Wh"}`, wantErr: `payload.RD[0].TM: "2026-03-01T12:00:00,000+0000 Q": time status "Q"`},
		{name: "not a time", rd: `{"TM":"yesterday S","RV":1,"RU":"Wh"}`, wantErr: `payload.RD[0].TM: "yesterday S" is not a time`},
		{name: "no offset", rd: `{"TM":"2026-03-01T12:00:00 S","RV":1,"RU":"Wh"}`, wantErr: "is not a time"},
		{name: "missing time", rd: `{"RV":1,"RU":"Wh"}`, wantErr: "payload.RD[0].TM: missing"},
		{name: "kWh", rd: `{"TM":"2026-03-01T12:00:00Z S","RV":12.345,"RU":"kWh"}`,
			want: Reading{Value: 12.345, ValueText: "12.345", Unit: "kWh", Wh: 12345, Energy: true}, check: []string{"Value", "ValueText", "Unit", "Wh", "Energy"}},
		{name: "Wh", rd: `{"TM":"2026-03-01T12:00:00Z S","RV":12345,"RU":"Wh"}`,
			want: Reading{Value: 12345, ValueText: "12345", Unit: "Wh", Wh: 12345, Energy: true}, check: []string{"Value", "ValueText", "Unit", "Wh", "Energy"}},
		{name: "mOhm is not energy", rd: `{"TM":"2026-03-01T12:00:00Z S","RV":7,"RU":"mOhm"}`,
			want: Reading{Value: 7, Unit: "mOhm"}, check: []string{"Value", "Unit", "Wh", "Energy"}},
		{name: "value as a string", rd: `{"TM":"2026-03-01T12:00:00Z S","RV":"0.5","RU":"kWh"}`,
			want: Reading{Wh: 500, Energy: true}, check: []string{"Wh", "Energy"}},
		{name: "missing value", rd: `{"TM":"2026-03-01T12:00:00Z S","RU":"kWh"}`, wantErr: "payload.RD[0].RV: missing"},
		{name: "value out of range", rd: `{"TM":"2026-03-01T12:00:00Z S","RV":1e999,"RU":"kWh"}`, wantErr: `payload.RD[0].RV: "1e999" is not a finite number`},
		{name: "value not a number", rd: `{"TM":"2026-03-01T12:00:00Z S","RV":"many","RU":"kWh"}`, wantErr: "payload.RD[0]"},
		{name: "missing unit", rd: `{"TM":"2026-03-01T12:00:00Z S","RV":1}`, wantErr: "payload.RD[0].RU: missing"},
		{name: "fields", rd: `{"TM":"2026-03-01T12:00:00Z S","RV":1,"RU":"Wh","RI":"1-b:1.8.0","RT":"DC","EF":"E","ST":"T"}`,
			want: Reading{OBIS: "1-b:1.8.0", Type: "DC", Errors: "E", Status: "T"}, check: []string{"OBIS", "Type", "Errors", "Status"}},
		{name: "no reason", rd: `{"TM":"2026-03-01T12:00:00Z S","RV":1,"RU":"Wh"}`, want: Reading{}, check: []string{"Reason", "Nature"}},
		{name: "unknown reason", rd: `{"TM":"2026-03-01T12:00:00Z S","TX":"Q","RV":1,"RU":"Wh"}`, wantErr: `payload.RD[0].TX: "Q" is not a reading reason`},
		{name: "reading not an object", rd: `[1]`, wantErr: "payload.RD[0]: not a JSON object"},
		{name: "reading of the wrong type", rd: `{"TM":5,"RV":1,"RU":"Wh"}`, wantErr: "payload.RD[0].TM: want string, got number"},
	}
	for reason, nature := range map[string]Nature{"B": NatureStart, "C": NatureIntermediate, "X": NatureIntermediate, "E": NatureEnd,
		"L": NatureEnd, "R": NatureEnd, "A": NatureEnd, "P": NatureEnd, "S": NatureIntermediate, "T": NatureIntermediate} {
		tests = append(tests, struct {
			name    string
			rd      string
			want    Reading
			check   []string
			wantErr string
		}{name: "reason " + reason, rd: `{"TM":"2026-03-01T12:00:00Z S","TX":"` + reason + `","RV":1,"RU":"Wh"}`,
			want: Reading{Reason: reason, Nature: nature}, check: []string{"Reason", "Nature"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, err := Decode("OCMF|" + payloadWith(tt.rd) + "|")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v, want ErrMalformed with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, want := reflect.ValueOf(rec.Readings[0]), reflect.ValueOf(tt.want)
			for _, f := range tt.check {
				g, w := got.FieldByName(f).Interface(), want.FieldByName(f).Interface()
				if gt, ok := g.(time.Time); ok {
					if !gt.Equal(w.(time.Time)) {
						t.Errorf("%s = %v, want %v", f, g, w)
					}
					continue
				}
				if g != w {
					t.Errorf("%s = %v, want %v", f, g, w)
				}
			}
		})
	}
}

func TestDecodeRecord(t *testing.T) {
	t.Parallel()
	one := `{"TM":"2026-03-01T12:00:00Z S","RV":1,"RU":"Wh"}`
	many := func(n int) string { return payloadWith(strings.TrimSuffix(strings.Repeat(one+",", n), ",")) }
	tests := []struct {
		name     string
		text     string
		wantErr  error
		errText  string
		unsigned bool
	}{
		{name: "no header", text: `{"RD":[]}|{}`, wantErr: ErrMalformed, errText: `starts with "OCMF|"`},
		{name: "other header", text: `OCMX|` + many(1) + `|{}`, wantErr: ErrMalformed},
		{name: "lower-case header", text: `ocmf|` + many(1) + `|{}`, wantErr: ErrMalformed},
		{name: "empty", text: ``, wantErr: ErrMalformed},
		{name: "header only", text: `OCMF|`, wantErr: ErrMalformed, errText: "payload: not a JSON object"},
		{name: "no signature section", text: `OCMF|` + many(1), unsigned: true},
		{name: "empty signature section", text: `OCMF|` + many(1) + `|`, unsigned: true},
		{name: "blank signature section", text: `OCMF|` + many(1) + `| `, unsigned: true},
		{name: "empty signature object", text: `OCMF|` + many(1) + `|{}`, unsigned: true},
		{name: "signature not an object", text: `OCMF|` + many(1) + `|"3045"`, wantErr: ErrMalformed, errText: "signature: not a JSON object"},
		{name: "signature null", text: `OCMF|` + many(1) + `|null`, wantErr: ErrMalformed},
		{name: "signature field of the wrong type", text: `OCMF|` + many(1) + `|{"SD":1}`, wantErr: ErrMalformed, errText: "signature.SD: want string, got number"},
		{name: "signature with a pipe", text: `OCMF|` + many(1) + `|{"SD":"a|b"}`, unsigned: false},
		{name: "payload null", text: `OCMF|null|{}`, wantErr: ErrMalformed, errText: "payload: not a JSON object"},
		{name: "payload array", text: `OCMF|[]|{}`, wantErr: ErrMalformed},
		{name: "payload trailing data", text: `OCMF|` + many(1) + `{}|{}`, wantErr: ErrMalformed, errText: "payload: invalid JSON"},
		{name: "payload with a pipe is cut there", text: `OCMF|{"ID":"a|b","RD":[` + one + `]}|{}`, wantErr: ErrMalformed},
		{name: "IS of the wrong type", text: `OCMF|{"IS":"yes","RD":[` + one + `]}|{}`, wantErr: ErrMalformed, errText: "payload.IS: want bool, got string"},
		{name: "IF of the wrong type", text: `OCMF|{"IF":"RFID_PLAIN","RD":[` + one + `]}|{}`, wantErr: ErrMalformed, errText: "payload.IF: want []string"},
		{name: "RD not a list", text: `OCMF|{"RD":{}}|{}`, wantErr: ErrMalformed, errText: "payload.RD"},
		{name: "no readings", text: `OCMF|{"RD":[]}|{}`, wantErr: ErrMalformed, errText: "payload.RD: no readings"},
		{name: "readings missing", text: `OCMF|{"FV":"1.0"}|{}`, wantErr: ErrMalformed, errText: "payload.RD: no readings"},
		{name: "unknown fields are kept out", text: `OCMF|{"XX":{"a":[1]},"LC":{"LR":1},"RD":[` + one + `]}|{}`, unsigned: true},
		{name: "at most readings", text: `OCMF|` + many(MaxReadings) + `|{}`, unsigned: true},
		{name: "too many readings", text: `OCMF|` + many(MaxReadings+1) + `|{}`, wantErr: ErrTooManyReadings, errText: fmt.Sprintf("has %d readings, the limit is %d", MaxReadings+1, MaxReadings)},
		{name: "too large", text: `OCMF|` + payloadWith(one) + `|{"SD":"` + strings.Repeat("A", MaxRecordBytes) + `"}`, wantErr: ErrTooLarge, errText: "the limit is 16384"},
		{name: "invalid UTF-8 in a string", text: "OCMF|{\"ID\":\"\xff\",\"RD\":[" + one + "]}|{}", unsigned: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, err := Decode(tt.text)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(fmt.Sprint(err), tt.errText) {
					t.Fatalf("error %v, want %v with %q", err, tt.wantErr, tt.errText)
				}
				if rec != nil {
					t.Fatal("a record beside an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.Verify("00", "").Status == Unsigned; got != tt.unsigned {
				t.Fatalf("unsigned %v, want %v (%+v)", got, tt.unsigned, rec.Verify("00", ""))
			}
		})
	}
}

func TestNature(t *testing.T) {
	t.Parallel()
	reading := func(tx string) string {
		return `{"TM":"2026-03-01T12:00:00Z S","TX":"` + tx + `","RV":1,"RU":"Wh"}`
	}
	noTX := `{"TM":"2026-03-01T12:00:00Z S","RV":1,"RU":"Wh"}`
	tests := []struct {
		name     string
		readings []string
		fallback Nature
		want     Nature
	}{
		{"begin", []string{reading("B")}, NatureEnd, NatureStart},
		{"charging", []string{reading("C")}, NatureEnd, NatureIntermediate},
		{"end", []string{reading("E")}, NatureStart, NatureEnd},
		{"begin and end", []string{reading("B"), reading("E")}, NatureIntermediate, NatureEnd},
		{"begin and charging", []string{reading("B"), reading("C")}, NatureIntermediate, NatureStart},
		{"power failure ends", []string{reading("C"), reading("P")}, NatureIntermediate, NatureEnd},
		{"no reason: the OCPP context", []string{noTX}, NatureStart, NatureStart},
	}
	for _, tt := range tests {
		rec, err := Decode("OCMF|" + payloadWith(strings.Join(tt.readings, ",")) + "|")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := rec.Nature(tt.fallback); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	for ctx, want := range map[string]Nature{"Transaction.Begin": NatureStart, "Transaction.End": NatureEnd,
		"Sample.Periodic": NatureIntermediate, "Sample.Clock": NatureIntermediate, "": NatureIntermediate} {
		if got := NatureOfContext(ctx); got != want {
			t.Errorf("context %q: %s, want %s", ctx, got, want)
		}
	}
}
