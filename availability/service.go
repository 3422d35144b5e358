package availability

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/query"
	"github.com/gridmetrics/gridmetrics/sources"
)

// Config bounds the availability answers.
type Config struct {
	// MaxBuckets bounds the buckets of one answer; more are a
	// VALIDATION_ERROR that says to use a coarser bucket. Default 400.
	MaxBuckets int
	// MaxChanges bounds the state changes one answer reads within its range
	// (over all of a site's connectors); more are a VALIDATION_ERROR that
	// says to shorten the range. Default 1 000 000.
	MaxChanges int
	// PageSize is how many changes are read at once. Default 10 000.
	PageSize int
	// MaxSiteConnectors bounds the connectors a site answer sums; a larger
	// site is a VALIDATION_ERROR. Default 1 000.
	MaxSiteConnectors int
}

// WithDefaults returns the config with unset fields at their defaults.
func (c Config) WithDefaults() Config {
	if c.MaxBuckets <= 0 {
		c.MaxBuckets = 400
	}
	if c.MaxChanges <= 0 {
		c.MaxChanges = 1_000_000
	}
	if c.PageSize <= 0 {
		c.PageSize = 10_000
	}
	if c.MaxSiteConnectors <= 0 {
		c.MaxSiteConnectors = 1_000
	}
	return c
}

// Service records states reported over HTTP and answers availability.
type Service struct {
	// Recorder stores changes: short single-row statements on the ingest
	// path.
	Recorder *Store
	// Reader reads the changes and a site's connectors for the answers.
	Reader *Store
	// Sources finds the source of an answer; Resolver the connector a
	// StatusNotification names, registering it on first sight.
	Sources  *sources.Store
	Resolver *sources.Resolver
	Config   Config
}

func (s *Service) cfg() Config { return s.Config.WithDefaults() }

// Recorded is the answer to a StatusNotification: what was stored.
type Recorded struct {
	Source    string    `json:"source"` // the external id, e.g. "CB-0042/1"
	Connector int       `json:"connector"`
	State     string    `json:"state"`
	Time      time.Time `json:"time"`
}

// StatusNotification records the StatusNotification payload (either OCPP
// edition, DecodeStatusNotification) of charge box box through
// Store.Record: the HTTP status route and the OCPP-J endpoint (Endpoint)
// both come here. A 1.6 notification without a timestamp takes the time
// of receipt.
func (s *Service) StatusNotification(ctx context.Context, tenantID int64, box string, payload []byte) (Recorded, error) {
	if err := ingest.ValidateChargeBox(box); err != nil {
		return Recorded{}, err
	}
	n, err := DecodeStatusNotification(payload)
	if err != nil {
		return Recorded{}, err
	}
	at := n.Time
	if at.IsZero() {
		at = time.Now().UTC().Truncate(time.Microsecond)
	}
	field := "connectorId"
	if n.Version == "2.0.1" {
		field = "evseId"
	}
	id, ref, err := ingest.ResolveOCPPSource(ctx, s.Resolver, tenantID, box, n.Connector, field)
	if err != nil {
		return Recorded{}, err
	}
	if err := s.Recorder.Record(ctx, tenantID, id, n.Status, at); err != nil {
		return Recorded{}, err
	}
	return Recorded{Source: ref, Connector: n.Connector, State: n.Status, Time: at}, nil
}

// Endpoint is the service as the OCPP-J endpoint takes it: StatusNotification
// payloads, and a charge box's connection states (Online, Offline) through
// Store.Record. Each returns once the state is committed.
type Endpoint struct{ svc *Service }

// Endpoint returns the service for the OCPP-J endpoint.
func (s *Service) Endpoint() Endpoint { return Endpoint{s} }

// StatusNotification records a StatusNotification payload of charge box box.
func (e Endpoint) StatusNotification(ctx context.Context, tenantID int64, box string, payload []byte) error {
	_, err := e.svc.StatusNotification(ctx, tenantID, box, payload)
	return err
}

// Record records a state of a source: Store.Record.
func (e Endpoint) Record(ctx context.Context, tenantID, sourceID int64, state string, at time.Time) error {
	return e.svc.Recorder.Record(ctx, tenantID, sourceID, state, at)
}

// Meta describes an answer.
type Meta struct {
	Source     string    `json:"source,omitempty"`
	Site       string    `json:"site,omitempty"`
	Connectors []string  `json:"connectors,omitempty"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	TZ         string    `json:"tz"`
	Bucket     string    `json:"bucket,omitempty"`
	// Changes is how many state changes within the range were read.
	Changes int `json:"changes"`
}

// Answer is the availability of a connector or a site, per bucket.
type Answer struct {
	Rows []Bucket
	Meta Meta
}

// Source answers the availability of one source (public id or external
// id) over r; the zone defaults to the source's.
func (s *Service) Source(ctx context.Context, tenantID int64, ref string, r query.Range) (*Answer, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	src, err := s.Sources.Get(ctx, tenantID, ref)
	if err != nil {
		return nil, err
	}
	tz := r.TZ
	if tz == "" {
		tz = src.Timezone
	}
	g, loc, err := s.grid(r, tz)
	if err != nil {
		return nil, err
	}
	out := &Answer{Meta: Meta{Source: src.PublicID, From: r.From.In(loc), To: r.To.In(loc), TZ: loc.String(), Bucket: r.Bucket}}
	f := NewFold(g)
	err = s.Reader.Read(ctx, func(rd Reader) error {
		out.Meta.Changes, err = s.fold(ctx, f, rd, src.ID, src.ParentID, r, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	out.Rows = f.Buckets(g)
	return out, nil
}

// Site answers the sum over a site's connectors (SiteConnectors). The zone
// defaults to the connectors' common zone, or UTC when they differ.
func (s *Service) Site(ctx context.Context, tenantID int64, site string, r query.Range) (*Answer, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	var out *Answer
	err := s.Reader.Read(ctx, func(rd Reader) error {
		var err error
		out, err = s.site(ctx, rd, tenantID, site, r)
		return err
	})
	return out, err
}

// site answers Site within one snapshot.
func (s *Service) site(ctx context.Context, rd Reader, tenantID int64, site string, r query.Range) (*Answer, error) {
	members, found, err := rd.SiteConnectors(ctx, tenantID, site, s.cfg().MaxSiteConnectors+1)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, api.NotFound("site", site)
	}
	if len(members) > s.cfg().MaxSiteConnectors {
		return nil, &api.Error{Code: api.CodeValidation,
			Message: fmt.Sprintf("site: has more than %d connectors, the most one answer sums; ask per connector (GET /v1/sources/{id}/availability)", s.cfg().MaxSiteConnectors),
			Details: map[string]any{"field": "site", "max_connectors": s.cfg().MaxSiteConnectors}}
	}
	tz := r.TZ
	if tz == "" {
		tz = "UTC"
		if len(members) > 0 && !slices.ContainsFunc(members, func(m Member) bool { return m.Timezone != members[0].Timezone }) {
			tz = members[0].Timezone
		}
	}
	g, loc, err := s.grid(r, tz)
	if err != nil {
		return nil, err
	}
	out := &Answer{Meta: Meta{Site: site, Connectors: []string{}, From: r.From.In(loc), To: r.To.In(loc), TZ: loc.String(), Bucket: r.Bucket}}
	f := NewFold(g)
	for _, m := range members {
		n, err := s.fold(ctx, f, rd, m.ID, m.ParentID, r, out.Meta.Changes)
		if err != nil {
			return nil, err
		}
		out.Meta.Changes += n
		out.Meta.Connectors = append(out.Meta.Connectors, m.PublicID)
	}
	out.Rows = f.Buckets(g)
	return out, nil
}

// fold reads one connector's changes into f; read is how many changes the
// answer has read already, against MaxChanges.
func (s *Service) fold(ctx context.Context, f *Fold, rd Reader, sourceID int64, boxID *int64, r query.Range, read int) (int, error) {
	f.Begin()
	n, err := rd.Changes(ctx, sourceID, boxID, r.From, r.To, s.cfg().PageSize, s.cfg().MaxChanges-read, func(c Change) error {
		f.Add(c)
		return nil
	})
	var tooMany ErrTooManyChanges
	if errors.As(err, &tooMany) {
		return 0, &api.Error{Code: api.CodeValidation,
			Message: fmt.Sprintf("from: the range holds more than %d state changes, the most one answer reads; use a shorter range", s.cfg().MaxChanges),
			Details: map[string]any{"field": "from", "max_changes": s.cfg().MaxChanges}}
	}
	if err != nil {
		return 0, err
	}
	f.Finish()
	return n, nil
}

// grid draws the answer's buckets in zone tz, at most MaxBuckets of them;
// no bucket is one bucket over the whole range.
func (s *Service) grid(r query.Range, tz string) (query.Buckets, *time.Location, error) {
	loc, err := api.ParseZone("tz", tz)
	if err != nil {
		return query.Buckets{}, nil, err
	}
	if r.Bucket == "" {
		return query.Whole(r.From, r.To, loc), loc, nil
	}
	step, _ := query.ParseStep(r.Bucket) // validated
	g, err := step.Grid(r.From, r.To, loc, s.cfg().MaxBuckets)
	if err != nil {
		return query.Buckets{}, nil, &api.Error{Code: api.CodeValidation,
			Message: fmt.Sprintf("bucket: %s buckets over this range make more than %d buckets, the most one availability answer holds; use a coarser bucket or a shorter range", r.Bucket, s.cfg().MaxBuckets),
			Details: map[string]any{"field": "bucket", "max_buckets": s.cfg().MaxBuckets}}
	}
	return g, loc, nil
}
