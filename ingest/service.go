package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/sources"
)

// Service validates decoded rows, resolves their sources and hands them to
// the pipeline, answering once they are committed.
type Service struct {
	Pipeline *Pipeline
	Resolver *sources.Resolver
	Catalog  Catalog
	Limits   Limits
	Metrics  *Metrics
	// MaxBody bounds a request body after decompression, in bytes.
	MaxBody int
}

// Result is the answer to an ingest request.
type Result struct {
	Accepted int        `json:"accepted"`
	Rejected []RowError `json:"rejected"`
}

// Ingest writes the valid rows and reports the others. rejected holds the
// rows the decoder already refused. register, when non-nil, creates the
// sources that are not known yet. It returns once the accepted rows are
// committed; an error means none of them is known to be.
func (s *Service) Ingest(ctx context.Context, tenantID int64, rows []Row, rejected []RowError, register sources.Register) (Result, error) {
	refs := uniqueSources(rows)
	ids, err := s.Resolver.Resolve(ctx, tenantID, refs, register)
	if err != nil {
		return Result{}, fmt.Errorf("resolve sources: %w", err)
	}
	now := time.Now()
	points := make([]Point, 0, len(rows))
	for _, r := range rows {
		id, ok := ids[r.Source]
		if !ok {
			rejected = append(rejected, rowErr(r.Index, CodeUnknownSource, "source %q is not registered", r.Source))
			continue
		}
		if code, msg := s.Limits.checkRow(r, now); code != "" {
			rejected = append(rejected, RowError{Index: r.Index, Code: code, Message: msg})
			continue
		}
		metric, v, code, msg := s.Catalog.convert(r.Metric, r.Unit, r.Value)
		if code != "" {
			rejected = append(rejected, RowError{Index: r.Index, Code: code, Message: msg})
			continue
		}
		points = append(points, Point{SourceID: id, Metric: metric, Time: r.Time.UnixMicro(), Value: v})
	}
	slices.SortFunc(rejected, func(a, b RowError) int { return a.Index - b.Index })
	res := Result{Accepted: len(points), Rejected: rejected}
	if res.Rejected == nil {
		res.Rejected = []RowError{}
	}
	for _, r := range rejected {
		s.Metrics.rows.WithLabelValues("rejected", r.Code).Inc()
	}
	if len(points) == 0 {
		return res, nil
	}
	if err := s.submit(ctx, points); err != nil {
		return Result{}, err
	}
	s.Metrics.rows.WithLabelValues("accepted", "").Add(float64(len(points)))
	return res, nil
}

func (s *Service) submit(ctx context.Context, points []Point) error {
	done, err := s.Pipeline.Submit(points)
	switch {
	case errors.Is(err, ErrOverloaded):
		return &api.Error{Code: api.CodeOverloaded, RetryAfter: 1,
			Message: "ingest queue is full; nothing was stored, retry after the delay"}
	case errors.Is(err, ErrClosed):
		return &api.Error{Code: api.CodeUnavailable, RetryAfter: 5,
			Message: "the service is shutting down; nothing was stored, retry"}
	case err != nil:
		return err
	}
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("write readings: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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

// registerMeters registers unknown sources as meters, for tenants with
// auto-registration on.
func registerMeters(missing []string) []sources.NewSource {
	out := make([]sources.NewSource, len(missing))
	for i, ref := range missing {
		out[i] = sources.NewSource{ExternalID: ref, Kind: sources.KindMeter}
	}
	return out
}
