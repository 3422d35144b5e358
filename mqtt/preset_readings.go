package mqtt

import "github.com/gridmetrics/gridmetrics/ingest"

// The readings preset carries exactly the JSON bodies POST /v1/readings
// takes, rows or series, from a gateway or bridge that publishes for many
// meters of the tenant: its rows name their own sources, and the topic's
// levels only name the gateway.

func readingsDevice(levels []string) (string, error) { return joinDevice(levels) }

func decodeReadings(m Message, _ string, maxRows int) (Decoded, error) {
	rows, rejected, err := ingest.DecodeReadingsJSON(m.Payload, maxRows)
	if err != nil {
		return Decoded{}, err
	}
	return Decoded{Rows: rows, Rejected: rejected}, nil
}
