// Package scaling holds the measurements of the paths beyond one machine
// that the benchmark programs share: the durable ingest log against direct
// ingest (MeasureLog), and dashboard queries on the primary against a
// streaming standby while ingest runs (MeasureStandby). bench/ingestlog and
// bench/standby run one each; bench/scale runs both and prints them on one
// line.
package scaling

import (
	"fmt"
	"io"
	"os"
)

// progress writes one line of progress to w (os.Stderr when nil).
func progress(w io.Writer, format string, args ...any) {
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, format+"\n", args...)
}
