package mqtt

import (
	"testing"
	"time"

	"github.com/gridmetrics/gridmetrics/ingest"
)

func TestDecodeReadings(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 2, 10, 15, 0, 0, time.UTC)
	runDecodeCases(t, []decodeCase{
		{name: "rows of several meters", topic: "readings/gw-1",
			payload: `{"readings":[
				{"source":"meter-1","metric":"energy_import","time":"2026-12-02T11:15:00+01:00","value":12345.6,"unit":"Wh"},
				{"source":"meter-2","metric":"power_import","time":"2026-12-02T10:15:00Z","value":"x"},
				{"source":"meter-2","metric":"power_import","time":"2026-12-02T10:15:00Z","value":420}]}`,
			want: []ingest.Row{
				row(0, "meter-1", "energy_import", "Wh", at, 12345.6),
				row(2, "meter-2", "power_import", "", at, 420),
			},
			wantRejected: []string{"1 " + ingest.CodeMalformed + " readings[1].value"}},
		{name: "series", topic: "readings/site-a/gw-1",
			payload: `{"series":[{"source":"meter-1","metric":"voltage","unit":"V","points":[["2026-12-02T10:15:00Z",230.1],["2026-12-02T10:16:00Z",229.8]]}]}`,
			want: []ingest.Row{
				row(0, "meter-1", "voltage", "V", at, 230.1),
				row(1, "meter-1", "voltage", "V", at.Add(time.Minute), 229.8),
			}},
		{name: "not JSON", topic: "readings/gw-1", payload: `230`, wantErr: "object"},
		{name: "empty", topic: "readings/gw-1", payload: ``, wantErr: "empty"},
		{name: "empty gateway level", topic: "readings/gw-1/", payload: `{"readings":[]}`, wantErr: "empty"},
	})
}
