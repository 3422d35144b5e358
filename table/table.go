// Package table writes tables — rows of a fixed list of typed columns — as
// CSV, NDJSON or an Arrow IPC stream, as they come: one row of text or one
// Arrow record batch is all a writer holds. The readings exports of query
// and the sessions export write through it, so every table the service
// streams follows the same rules (CSV quoting, JSON escaping, Arrow types).
//
// A row is written cell by cell, in column order, by the method of the
// column's kind (or Null), then ended with EndRow. Values are appended to
// reused buffers: no reflection, no allocation per row.
package table

import (
	"fmt"
	"io"
	"time"

	"github.com/govalues/decimal"
)

// Kind is the type of a column.
type Kind int

// The kinds of column and how each format writes them.
const (
	// String is UTF-8 text: a CSV field (quoted when it must be), a JSON
	// string, Arrow utf8.
	String Kind = iota
	// Time is an instant: RFC 3339 with as many fractional digits as it
	// has in CSV and JSON, in the zone of the time.Time given; Arrow
	// timestamp[us] in Options.Zone.
	Time
	// Float is a float64: text in Column.FloatText (CSV) or as encoding/json
	// writes numbers (JSON); Arrow float64.
	Float
	// Int is an int64.
	Int
	// Decimal is an exact decimal: its text at its own scale in CSV, a JSON
	// string (so that no JSON reader turns it into a float); Arrow
	// decimal128(38, Column.Scale).
	Decimal
)

// FloatText is the text form of a Float in CSV.
type FloatText int

const (
	// FloatPlain is plain digits in the shortest form that reads back as
	// the same float64, an exponent only from 1e21 on: 1234500, 0.000125.
	FloatPlain FloatText = iota
	// FloatShortestG is strconv's shortest %g: an exponent from 1e21 on
	// and below 1e-4, but also from 1e6 on (1.2345e+06).
	FloatShortestG
)

// Column is one column of a table.
type Column struct {
	Name string
	Kind Kind
	// Nullable is the column's Arrow nullability; a null is written in
	// every format whatever it says (an empty CSV field, JSON null).
	Nullable bool
	// Scale is the number of decimal places of a Decimal column in Arrow
	// (0 to 19); a value with more places is rounded half away from zero.
	Scale int
	// FloatText is a Float column's text in CSV.
	FloatText FloatText
}

// Format is an output format.
type Format string

// The formats.
const (
	CSV    Format = "csv"    // a header line of column names, then one line per row
	NDJSON Format = "ndjson" // one JSON object per row, keyed by column name, one per line
	Arrow  Format = "arrow"  // an Arrow IPC stream of record batches
)

// MediaType is the Content-Type of the format.
func (f Format) MediaType() string {
	switch f {
	case CSV:
		return "text/csv"
	case Arrow:
		return "application/vnd.apache.arrow.stream"
	}
	return "application/x-ndjson"
}

// Options are a writer's settings.
type Options struct {
	// Zone is the time zone of Arrow's timestamp columns ("" is UTC).
	Zone string
	// Batch is the number of rows of an Arrow record batch (default
	// DefaultBatch). The other formats write every row as it ends.
	Batch int
}

// DefaultBatch is the default number of rows of an Arrow record batch.
const DefaultBatch = 4096

// Writer writes the rows of a table. Its cell methods record the first
// error they meet (a value that does not fit its column), which EndRow
// returns; no method may be called after an error.
type Writer interface {
	// Null writes a null cell.
	Null()
	// String writes a String cell.
	String(s string)
	// Bytes writes a String cell given as bytes, which are not kept after
	// the call.
	Bytes(b []byte)
	// Time writes a Time cell.
	Time(t time.Time)
	// Float writes a Float cell.
	Float(v float64)
	// Int writes an Int cell.
	Int(v int64)
	// Decimal writes a Decimal cell.
	Decimal(d decimal.Decimal)
	// EndRow ends a row of as many cells as columns.
	EndRow() error
	// Close ends the table: it writes what a table without rows still
	// has (a CSV header, an Arrow schema), the last Arrow batch and the
	// end-of-stream marker. It does not close w.
	Close() error
}

// New returns a writer of a table of cols to w in format f.
func New(f Format, w io.Writer, cols []Column, opts Options) (Writer, error) {
	for _, c := range cols {
		if c.Kind == Decimal && (c.Scale < 0 || c.Scale > 19) {
			return nil, fmt.Errorf("column %s: scale %d is not in [0, 19]", c.Name, c.Scale)
		}
	}
	switch f {
	case CSV:
		return newCSVWriter(w, cols), nil
	case NDJSON:
		return newNDJSONWriter(w, cols), nil
	case Arrow:
		return newArrowWriter(w, cols, opts), nil
	}
	return nil, fmt.Errorf("%q is not a table format", f)
}
