package ingest

import "errors"

// Submitter takes validated points and answers once they are durable. The
// Pipeline answers once they are committed to the database; a durable log
// in front of it (package ingestlog) answers once the log has persisted
// them. Every front end submits through Service, so all of them get the
// same guarantee from whichever is configured.
type Submitter interface {
	// Submit queues points and returns a channel that receives nil once
	// they are durable, or the error that kept them out. It fails at once
	// with ErrOverloaded, ErrTooLarge or ErrClosed; the channel may also
	// carry ErrOverloaded (the log is full) or ErrUnavailable.
	Submit(points []Point) (<-chan error, error)
	// MaxRows is the most points one submission may carry.
	MaxRows() int
}

// ErrUnavailable: what keeps submissions durable cannot be reached (the
// log's servers); nothing is known to be stored, a retry may succeed.
var ErrUnavailable = errors.New("ingest log is unavailable")

// MaxRows is the most points one submission may carry: the queue's size.
func (p *Pipeline) MaxRows() int { return p.cfg.QueueRows }

// Transient reports whether a failed write may succeed later unchanged: the
// database was unreachable, restarting, or too slow. A batch that failed
// otherwise holds something the database refuses (a point of a source since
// deleted), and writing it again will fail again.
func Transient(err error) bool { return retryable(err) }
