package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/sources"
)

// Service validates decoded rows, resolves their sources and hands them to
// the pipeline, answering once they are committed.
type Service struct {
	// Pipeline takes the accepted points: the write pipeline itself, or a
	// durable log in front of it.
	Pipeline Submitter
	Resolver *sources.Resolver
	Catalog  Catalog
	Limits   Limits
	Metrics  *Metrics
	// Signed keeps the signed meter values of OCPP MeterValues with their
	// session (sessions.Service); nil keeps none.
	Signed SignedStore
}

// SignedStore keeps signed meter values with the session of an OCPP
// transaction (transactionID, OCPP 1.6) or the one active on the connector,
// and returns the values it refused.
type SignedStore interface {
	StoreSigned(ctx context.Context, tenantID int64, box string, connector int, transactionID string, values []SignedValue) ([]RowError, error)
}

// Result is the answer to an ingest request.
type Result struct {
	Accepted int `json:"accepted"`
	// Rejected lists the first MaxRejected rejected rows, by index;
	// RejectedTotal counts all of them.
	Rejected      []RowError `json:"rejected"`
	RejectedTotal int        `json:"rejected_total"`
}

// MarshalJSON writes the result; rejected_total is never less than the
// rows listed, for results built without it.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	p := plain(r)
	p.RejectedTotal = max(p.RejectedTotal, len(p.Rejected))
	if p.Rejected == nil {
		p.Rejected = []RowError{}
	}
	return json.Marshal(p)
}

// Ingest writes the valid rows and reports the others. rejected holds the
// rows the decoder already refused. register creates the sources that are
// not known yet, for tenants with auto-registration on (nil: none). It
// returns once the accepted rows are committed; an error means none of
// them is known to be.
func (s *Service) Ingest(ctx context.Context, tenantID int64, rows []Row, rejected []RowError, register sources.Register) (Result, error) {
	return s.IngestRejections(ctx, tenantID, rows, rejectionsOf(rejected), register)
}

// IngestRejections is Ingest for a decoder that counted more rejected rows
// than it listed.
func (s *Service) IngestRejections(ctx context.Context, tenantID int64, rows []Row, decoded Rejections, register sources.Register) (Result, error) {
	res, err := s.Resolver.ResolveEach(ctx, tenantID, uniqueSources(rows), register)
	if err != nil {
		return Result{}, fmt.Errorf("resolve sources: %w", err)
	}
	now := time.Now()
	bounds := s.Limits.bounds(now)
	var rejected Rejections
	points := make([]Point, 0, len(rows))
	for _, r := range rows {
		id, ok := res.IDs[r.Source]
		if !ok {
			rejected.Add(sourceRejection(r, res.Refused[r.Source]))
			continue
		}
		if code, msg := bounds.checkRow(r); code != "" {
			rejected.Add(RowError{Index: r.Index, Code: code, Message: msg})
			continue
		}
		metric, v, code, msg := s.Catalog.convert(r.Metric, r.Unit, r.Value)
		if code != "" {
			rejected.Add(RowError{Index: r.Index, Code: code, Message: msg})
			continue
		}
		points = append(points, Point{SourceID: id, Metric: metric, Time: r.Time.UnixMicro(), Value: v})
	}
	for _, e := range rejected.List {
		s.Metrics.rows.WithLabelValues("rejected", e.Code).Inc()
	}
	for _, e := range decoded.List {
		s.Metrics.rows.WithLabelValues("rejected", e.Code).Inc()
	}
	if unlisted := rejected.Total - len(rejected.List) + decoded.Total - len(decoded.List); unlisted > 0 {
		s.Metrics.rows.WithLabelValues("rejected", "unlisted").Add(float64(unlisted))
	}
	rejected.merge(decoded)
	out := Result{Accepted: len(points), Rejected: rejected.List, RejectedTotal: rejected.Total}
	if out.Rejected == nil {
		out.Rejected = []RowError{}
	}
	if len(points) == 0 {
		return out, nil
	}
	if err := s.submit(ctx, points); err != nil {
		return Result{}, err
	}
	s.Metrics.rows.WithLabelValues("accepted", "").Add(float64(len(points)))
	return out, nil
}

// sourceRejection is the rejection of a row whose source is not known:
// refused by auto-registration (reason non-nil), or not registered.
func sourceRejection(r Row, reason error) RowError {
	switch {
	case reason == nil:
		return rowErr(r.Index, CodeUnknownSource, "source %q is not registered (and the tenant does not register sources on first sight)", r.Source)
	case errors.Is(reason, sources.ErrTooManyChildren):
		return rowErr(r.Index, CodeTooManyChildren, "%v", reason)
	}
	return rowErr(r.Index, CodeInvalidSource, "%v", reason)
}

// MaxRows is the most rows one request (or message) may carry: a submission larger than
// the queue could never be let in.
func (s *Service) MaxRows() int { return s.Pipeline.MaxRows() }

func (s *Service) submit(ctx context.Context, points []Point) error {
	done, err := s.Pipeline.Submit(points)
	if err != nil {
		return s.submitError(err)
	}
	select {
	case err := <-done:
		if err != nil {
			return s.submitError(fmt.Errorf("write readings: %w", err))
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// submitError is the answer to a submission that was refused or failed.
func (s *Service) submitError(err error) error {
	switch {
	case errors.Is(err, ErrOverloaded):
		return &api.Error{Code: api.CodeOverloaded, RetryAfter: 1,
			Message: "ingest queue is full; nothing was stored, retry after the delay"}
	case errors.Is(err, ErrTooLarge):
		return &api.Error{Code: api.CodeTooLarge, Message: tooManyRows(s.MaxRows()).Message,
			Details: map[string]any{"max_rows": s.MaxRows()}}
	case errors.Is(err, ErrClosed):
		return &api.Error{Code: api.CodeUnavailable, RetryAfter: 5,
			Message: "the service is shutting down; nothing was stored, retry"}
	case errors.Is(err, ErrUnavailable):
		return &api.Error{Code: api.CodeUnavailable, RetryAfter: 2,
			Message: "the ingest log is unavailable; nothing is known to be stored, retry after the delay"}
	}
	return err
}

func uniqueSources(rows []Row) []string {
	seen := make(map[string]struct{})
	var out []string
	for _, r := range rows {
		if _, ok := seen[r.Source]; !ok {
			seen[r.Source] = struct{}{}
			out = append(out, r.Source)
		}
	}
	return out
}

// RegisterMeters registers unknown sources as meters, for tenants with
// auto-registration on.
func RegisterMeters(missing []string) []sources.NewSource {
	out := make([]sources.NewSource, len(missing))
	for i, ref := range missing {
		out[i] = sources.NewSource{ExternalID: ref, Kind: sources.KindMeter}
	}
	return out
}
