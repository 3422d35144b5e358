package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/internal/settings"
	"github.com/gridmetrics/gridmetrics/sources"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// TariffSource finds the charging tariff that prices a source's sessions.
type TariffSource interface {
	// TariffAt returns the charging tariff assigned to the source (internal
	// id) and valid at at, with a reference to the exact version used (for
	// example "tar_…@3"), or an error wrapping ErrNoTariff when none is.
	TariffAt(ctx context.Context, tenantID, sourceID int64, at time.Time) (*tariffs.Tariff, string, error)
}

// ErrNoTariff is returned by a TariffSource when no tariff is assigned.
var ErrNoTariff = errors.New("no tariff assigned")

// TariffSourceFunc adapts a function to TariffSource.
type TariffSourceFunc func(ctx context.Context, tenantID, sourceID int64, at time.Time) (*tariffs.Tariff, string, error)

// TariffAt calls f.
func (f TariffSourceFunc) TariffAt(ctx context.Context, tenantID, sourceID int64, at time.Time) (*tariffs.Tariff, string, error) {
	return f(ctx, tenantID, sourceID, at)
}

// NoTariffs is a TariffSource with no tariff assigned to anything: every
// session fails with ErrNoTariff's reason, repriceable once tariffs are
// wired in.
var NoTariffs TariffSource = TariffSourceFunc(func(context.Context, int64, int64, time.Time) (*tariffs.Tariff, string, error) {
	return nil, "", ErrNoTariff
})

// ReadingsWriter writes meter values through the ingest pipeline and
// returns once they are committed (ingest.Service). rejected holds the
// meter values the decoder refused: the first ingest.MaxRejected listed,
// and the count of all, which the result carries on as rejected_total.
type ReadingsWriter interface {
	IngestRejections(ctx context.Context, tenantID int64, rows []ingest.Row, rejected ingest.Rejections, register sources.Register) (ingest.Result, error)
}

// Config configures the session service and its pricing worker.
type Config struct {
	// ParkingThreshold is the power in W below which a session without
	// OCPP charging states counts as parking, from the instant it drops
	// below it for good until the end. Default 100 W (a car that is full
	// may still draw some tens of watts).
	ParkingThreshold float64
	// MaxSkew is how far ahead of the server clock a lifecycle timestamp
	// may be. Default 10m.
	MaxSkew time.Duration
	// PollInterval is how often the pricing worker looks for completed
	// sessions it was not woken for (stopped on another replica, or left
	// by a worker that died). Default 5s.
	PollInterval time.Duration
	// Batch is the number of sessions the worker claims, reads and
	// stores at once: the database work of pricing is a handful of
	// statements per batch. Default 512: 100,000 sessions priced at about
	// 4,800/s with 256 and 5,200/s with 512 (3 at once, 2 cores shared
	// with PostgreSQL). A batch's results are written under its tenant's
	// lock, which lifecycle writes of that tenant wait for: about 30 ms
	// for 512.
	Batch int
	// Concurrency is the number of batches priced at once, each on a
	// database connection of its own while it reads or writes, so the
	// database works on some while the service prices others in memory.
	// Default 3: on 2 cores shared with PostgreSQL, 100,000 sessions in
	// batches of 256 priced at about 3,500/s with 2, 4,200/s with 3 and
	// 4,350/s with 4; 3 leaves a connection of the default jobs pool (4)
	// to the rollups.
	Concurrency int
	// Lease is how long a claimed session is left to its worker before
	// another may take it. Default 1m.
	Lease time.Duration
	// MaxPricingAttempts is how many times, counted across replicas, the
	// worker tries to price a completed session whose pricing returns an
	// error or panics before it quarantines it: the session becomes failed
	// with the reason, and a reprice revives it. Default 5.
	MaxPricingAttempts int
	// Logger receives the worker's errors. Default slog.Default().
	Logger *slog.Logger
	// Metrics counts the worker's results; nil counts nothing.
	Metrics *Metrics
}

// WithDefaults returns the config with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = 3
	}
	if c.ParkingThreshold <= 0 {
		c.ParkingThreshold = 100
	}
	if c.MaxSkew <= 0 {
		c.MaxSkew = 10 * time.Minute
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 512
	}
	if c.Lease <= 0 {
		c.Lease = time.Minute
	}
	if c.MaxPricingAttempts <= 0 {
		c.MaxPricingAttempts = 5
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the settings that cannot work. It checks c as it will
// run, so a zero that WithDefaults would replace is refused too: call it on
// WithDefaults' result, or on settings given in full (the command line).
func (c Config) Validate() error {
	return errors.Join(
		settings.Positive("sessions.ParkingThreshold", c.ParkingThreshold),
		settings.Positive("sessions.MaxSkew", c.MaxSkew),
		settings.Positive("sessions.PollInterval", c.PollInterval),
		settings.Positive("sessions.Batch", c.Batch),
		settings.Positive("sessions.Concurrency", c.Concurrency),
		settings.Positive("sessions.Lease", c.Lease),
		settings.Positive("sessions.MaxPricingAttempts", c.MaxPricingAttempts),
		atMost("sessions.Batch", c.Batch, MaxBatch),
		atMost("sessions.Concurrency", c.Concurrency, MaxConcurrency),
	)
}

// MaxBatch and MaxConcurrency bound Config.Batch and Config.Concurrency: a
// batch's statements carry arrays of its size, and each concurrent batch
// holds a database connection of the worker's pool at times.
const (
	MaxBatch       = 10_000
	MaxConcurrency = 16
)

func atMost(name string, v, limit int) error {
	if v > limit {
		return fmt.Errorf("%s is %d: must be at most %d", name, v, limit)
	}
	return nil
}

// Service runs the session lifecycle, prices sessions and serves the
// billing pull.
type Service struct {
	store    *Store
	resolver *sources.Resolver
	readings ReadingsWriter
	tariffs  TariffSource
	cfg      Config
	idTags   IDTags     // nil: every id is accepted
	zones    *zoneCache // tariffs read in a station's zone, compiled once
	standby  *Standby   // the billing pull and the export read it while usable

	wake    chan struct{}
	mu      sync.Mutex // guards cancel and stopped
	cancel  context.CancelFunc
	stopped chan struct{}
}

// NewService returns a session service. tariffs may be NoTariffs.
func NewService(db *pgxpool.Pool, resolver *sources.Resolver, readings ReadingsWriter, tariffs TariffSource, cfg Config) *Service {
	return &Service{store: NewStore(db), resolver: resolver, readings: readings, tariffs: tariffs,
		cfg: cfg.WithDefaults(), zones: newZoneCache(zoneCacheSize), wake: make(chan struct{}, 1)}
}

// OnPool returns a service like svc that reads and writes through db and
// prices with tariffs: the server runs the pricing worker on its jobs pool
// while requests use theirs. The two share their wake-ups, so a session
// completed by a request wakes the other's worker.
func (svc *Service) OnPool(db *pgxpool.Pool, tariffs TariffSource) *Service {
	return &Service{store: NewStore(db), resolver: svc.resolver, readings: svc.readings, tariffs: tariffs,
		cfg: svc.cfg, zones: svc.zones, wake: svc.wake}
}

// Store returns the service's store.
func (svc *Service) Store() *Store { return svc.store }

// NewSession is the body of POST /v1/sessions.
type NewSession struct {
	// Source is the connector: its public id or external id.
	Source     string    `json:"source"`
	ExternalID string    `json:"external_id"`
	IDTag      string    `json:"id_tag"`
	StartTime  time.Time `json:"start_time"`
	MeterStart *float64  `json:"meter_start"` // Wh
}

// StopSession is the body of POST /v1/sessions/{id}/stop.
type StopSession struct {
	StopTime  time.Time `json:"stop_time"`
	MeterStop *float64  `json:"meter_stop"` // Wh
	Reason    string    `json:"reason"`
}

func validateText(field, s string, required bool, maxLen int) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return api.Validation(field, "is required")
	case len(s) > maxLen:
		return api.Validation(field, "is %d bytes long; at most %d are allowed", len(s), maxLen)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return api.Validation(field, "contains control characters")
	}
	return nil
}

var minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func (svc *Service) validateTime(field string, t time.Time) error {
	switch {
	case t.IsZero():
		return api.Validation(field, "is required")
	case t.Before(minTime):
		return api.Validation(field, "%s is before 2000", t.Format(time.RFC3339))
	case t.After(time.Now().Add(svc.cfg.MaxSkew)):
		return api.Validation(field, "%s is in the future", t.Format(time.RFC3339))
	}
	return nil
}

func validateMeter(field string, v *float64) error {
	if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0) || *v < 0) {
		return api.Validation(field, "must be a non-negative number of Wh")
	}
	return nil
}

func sameFloat(a, b *float64) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func sameTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

func sameID(a, b *int64) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// Start starts a session through the API. Starting it again with the same
// fields returns it (created false); the same external id with other
// fields is a CONFLICT.
func (svc *Service) Start(ctx context.Context, tenantID int64, n NewSession) (Session, bool, error) {
	n.StartTime = n.StartTime.UTC().Truncate(time.Microsecond)
	for _, err := range []error{
		validateText("source", n.Source, true, 200),
		validateText("external_id", n.ExternalID, true, 200),
		validateText("id_tag", n.IDTag, false, 200),
		svc.validateTime("start_time", n.StartTime),
		validateMeter("meter_start", n.MeterStart),
	} {
		if err != nil {
			return Session{}, false, err
		}
	}
	ids, err := svc.resolver.Resolve(ctx, tenantID, []string{n.Source}, nil)
	if err != nil {
		return Session{}, false, err
	}
	sourceID, ok := ids[n.Source]
	if !ok {
		// Sessions started through the API never register their source.
		return Session{}, false, &api.Error{Code: api.CodeValidation,
			Message: fmt.Sprintf("source: no source %q is registered; register it first", n.Source),
			Details: map[string]any{"field": "source", "reason": ingest.CodeUnknownSource, "source": n.Source}}
	}
	var out Session
	created := false
	err = svc.store.write(ctx, tenantID, func(w *Tx) error {
		cur, found, err := w.byExternalID(ctx, "", n.ExternalID)
		if err != nil {
			return err
		}
		if found {
			if !sameID(cur.SourceID, &sourceID) || cur.IDTag != n.IDTag || !cur.StartTime.Equal(n.StartTime) || !sameFloat(cur.MeterStart, n.MeterStart) {
				return api.Errorf(api.CodeConflict, "session %s has external_id %q with other start fields", cur.PublicID, n.ExternalID)
			}
			out = cur
			return nil
		}
		out = Session{SourceID: &sourceID, ExternalID: n.ExternalID, Protocol: ProtocolAPI, IDTag: n.IDTag,
			Status: StatusActive, StartTime: n.StartTime, MeterStart: n.MeterStart}
		created = true
		return w.insert(ctx, &out)
	})
	if err != nil {
		return Session{}, false, err
	}
	if created {
		out, err = svc.store.Get(ctx, tenantID, out.PublicID)
	}
	return out, created, err
}

// Stop stops a session started through the API. Stopping it again with
// the same fields changes nothing; other fields are a CONFLICT.
func (svc *Service) Stop(ctx context.Context, tenantID int64, publicID string, r StopSession) (Session, error) {
	r.StopTime = r.StopTime.UTC().Truncate(time.Microsecond)
	if r.Reason == "" {
		r.Reason = "Local"
	}
	for _, err := range []error{
		svc.validateTime("stop_time", r.StopTime),
		validateMeter("meter_stop", r.MeterStop),
		validateText("reason", r.Reason, false, 50),
	} {
		if err != nil {
			return Session{}, err
		}
	}
	return svc.stop(ctx, tenantID, func(w *Tx) (Session, bool, error) { return w.byPublicID(ctx, publicID) },
		publicID, r.StopTime, r.MeterStop, r.Reason, ProtocolAPI)
}

// stop applies a stop to the session find locks.
func (svc *Service) stop(ctx context.Context, tenantID int64, find func(*Tx) (Session, bool, error), name string,
	at time.Time, meter *float64, reason string, protocol Protocol) (Session, error) {
	var out Session
	completed := false
	err := svc.store.write(ctx, tenantID, func(w *Tx) error {
		cur, found, err := find(w)
		if err != nil {
			return err
		}
		if !found {
			return api.NotFound("session", name)
		}
		if cur.Protocol != protocol {
			return api.Errorf(api.CodeConflict, "session %s was started through %s; stop it the same way", cur.PublicID, cur.Protocol)
		}
		if cur.Status != StatusActive {
			if cur.StopTime != nil && cur.StopTime.Equal(at) && sameFloat(cur.MeterStop, meter) && cur.StopReason == reason {
				out = cur
				return nil // a repeated stop
			}
			return api.Errorf(api.CodeConflict, "session %s already stopped at %s", cur.PublicID, cur.StopTime.UTC().Format(time.RFC3339Nano))
		}
		if at.Before(cur.StartTime) {
			return api.Validation("stop_time", "%s is before the session start %s", at.Format(time.RFC3339Nano), cur.StartTime.UTC().Format(time.RFC3339Nano))
		}
		cur.StopTime, cur.MeterStop, cur.StopReason, cur.Status = &at, meter, reason, StatusCompleted
		out, completed = cur, true
		return w.update(ctx, &out)
	})
	if err != nil {
		return Session{}, err
	}
	if completed {
		svc.Wake()
	}
	return out, nil
}

// ocppSource resolves (registering on first sight) a charge box's connector
// or EVSE, named by the request's field; evse 0 is the charge box itself.
// A connector that is not registered and cannot be is the client's to fix
// (ingest.OCPPSourceRefused), as on every OCPP route.
func (svc *Service) ocppSource(ctx context.Context, tenantID int64, box string, evse int, field string) (int64, string, error) {
	return ingest.ResolveOCPPSource(ctx, svc.resolver, tenantID, box, evse, field)
}

// StartTransaction16 starts an OCPP 1.6 transaction and assigns its
// transaction id. A repeated StartTransaction.req (same connector,
// timestamp and id tag) returns the session it started.
func (svc *Service) StartTransaction16(ctx context.Context, tenantID int64, box string, req StartTransaction16) (Session, error) {
	if err := ingest.ValidateChargeBox(box); err != nil {
		return Session{}, err
	}
	if err := svc.validateTime("timestamp", req.Timestamp); err != nil {
		return Session{}, err
	}
	if err := validateMeter("meterStart", &req.MeterStart); err != nil {
		return Session{}, err
	}
	sourceID, _, err := svc.ocppSource(ctx, tenantID, box, req.ConnectorID, "connectorId")
	if err != nil {
		return Session{}, err
	}
	var out Session
	err = svc.store.write(ctx, tenantID, func(w *Tx) error {
		cur, found, err := w.ocpp16Start(ctx, box, sourceID, req.Timestamp, req.IDTag)
		if err != nil || found {
			out = cur
			return err
		}
		txID, err := w.nextTransactionID(ctx)
		if err != nil {
			return err
		}
		meter := req.MeterStart
		out = Session{SourceID: &sourceID, ChargeBoxID: box, ExternalID: strconv.FormatInt(txID, 10), Protocol: ProtocolOCPP16,
			IDTag: req.IDTag, Status: StatusActive, StartTime: req.Timestamp, MeterStart: &meter}
		return w.insert(ctx, &out)
	})
	if err != nil {
		return Session{}, err
	}
	return svc.store.Get(ctx, tenantID, out.PublicID)
}

// StopTransaction16 stops an OCPP 1.6 transaction, after writing its
// transactionData meter values through the ingest pipeline. A repeated
// StopTransaction.req changes nothing.
func (svc *Service) StopTransaction16(ctx context.Context, tenantID int64, box string, req StopTransaction16) (Session, ingest.Result, error) {
	if err := ingest.ValidateChargeBox(box); err != nil {
		return Session{}, ingest.Result{}, err
	}
	if err := svc.validateTime("timestamp", req.Timestamp); err != nil {
		return Session{}, ingest.Result{}, err
	}
	if err := validateMeter("meterStop", &req.MeterStop); err != nil {
		return Session{}, ingest.Result{}, err
	}
	txID := strconv.FormatInt(req.TransactionID, 10)
	name := box + " transaction " + txID
	cur, found, err := svc.store.find(ctx, tenantID, box, txID)
	if err != nil {
		return Session{}, ingest.Result{}, err
	}
	if !found {
		return Session{}, ingest.Result{}, api.NotFound("transaction", name)
	}
	res := ingest.Result{Rejected: []ingest.RowError{}}
	if len(req.TransactionData) > 0 && cur.SourceExternalID != nil {
		l, err := ingest.DecodeOCPPMeterValueList(ingest.OCPP16, *cur.SourceExternalID, req.TransactionData)
		if err != nil {
			return Session{}, ingest.Result{}, api.Validation("transactionData", "%v", err)
		}
		if res, err = svc.ingest(ctx, tenantID, box, l); err != nil {
			return Session{}, ingest.Result{}, err
		}
		refused, err := svc.keepSigned(ctx, cur.ID, cur.SourceID, l.Signed)
		if err != nil {
			return Session{}, ingest.Result{}, err
		}
		res = WithRefused(res, refused)
	}
	meter := req.MeterStop
	out, err := svc.stop(ctx, tenantID, func(w *Tx) (Session, bool, error) { return w.byExternalID(ctx, box, txID) },
		name, req.Timestamp, &meter, req.Reason, ProtocolOCPP16)
	return out, res, err
}

// ingest writes decoded meter values and waits for their commit.
func (svc *Service) ingest(ctx context.Context, tenantID int64, box string, l ingest.OCPPMeterValueList) (ingest.Result, error) {
	if len(l.Rows) == 0 {
		return rejectedOnly(l), nil
	}
	return svc.readings.IngestRejections(ctx, tenantID, l.Rows, l.Rejections(), ingest.RegisterCharger(box))
}

// rejectedOnly is the result for meter values none of which was written:
// the decoder's capped list and its count of all.
func rejectedOnly(l ingest.OCPPMeterValueList) ingest.Result {
	rejected := l.Rejected
	if rejected == nil {
		rejected = []ingest.RowError{}
	}
	return ingest.Result{Rejected: rejected, RejectedTotal: l.RejectedTotal}
}

// TransactionEvent201 applies an OCPP 2.0.1 TransactionEvent, after
// writing its meter values through the ingest pipeline.
//
// The session is folded from the set of its events (see fold), so events
// may come in any order, late (offline) or twice: an event whose seqNo the
// session already holds changes nothing; an Ended before its Started or
// Updated stops the session, and those, when they come, still count (their
// charging states and meter values). An event that changes a stopped
// session's inputs — or brings meter values — sends it back to completed,
// to be priced again.
//
// Only the first event of a transaction must name its EVSE. Meter values of
// events that arrive before the session knows its EVSE (an Ended ahead of
// its Started) are kept with their event and written to the connector's
// readings once an event names it.
func (svc *Service) TransactionEvent201(ctx context.Context, tenantID int64, box string, ev TransactionEvent201) (Session, ingest.Result, error) {
	if err := ingest.ValidateChargeBox(box); err != nil {
		return Session{}, ingest.Result{}, err
	}
	if err := svc.validateTime("timestamp", ev.Timestamp); err != nil {
		return Session{}, ingest.Result{}, err
	}
	cur, found, err := svc.store.find(ctx, tenantID, box, ev.TransactionID)
	if err != nil {
		return Session{}, ingest.Result{}, err
	}
	if found && slices.ContainsFunc(cur.Events, func(e Event) bool { return e.SeqNo == ev.SeqNo }) {
		return cur, ingest.Result{Rejected: []ingest.RowError{}}, nil // a repeat
	}

	// The EVSE: the event's, else the one an earlier event named.
	evse := ev.EVSE
	if evse == 0 && found {
		evse = fold(cur.Events).evse
	}
	var sourceID *int64
	ref := ingest.OCPPSourceExternalID(box, evse)
	if evse > 0 {
		id, r, err := svc.ocppSource(ctx, tenantID, box, evse, "evse.id")
		if err != nil {
			return Session{}, ingest.Result{}, err
		}
		sourceID, ref = &id, r
	}
	e := Event{SeqNo: ev.SeqNo, Type: ev.EventType, Time: ev.Timestamp, Trigger: ev.TriggerReason, ChargingState: ev.ChargingState,
		StoppedReason: ev.StoppedReason, Offline: ev.Offline, IDToken: ev.IDToken, EVSE: ev.EVSE}
	res := ingest.Result{Rejected: []ingest.RowError{}}
	ingested := false
	var signed []ingest.SignedValue
	if len(ev.MeterValue) > 0 {
		l, err := ingest.DecodeOCPPMeterValueList(ingest.OCPP201, ref, ev.MeterValue)
		if err != nil {
			return Session{}, ingest.Result{}, api.Validation("meterValue", "%v", err)
		}
		e.MeterBegin, e.MeterEnd = registerAt(l.Rows, l.Begin), registerAt(l.Rows, l.End)
		signed = l.Signed
		if sourceID == nil {
			e.MeterValue = ev.MeterValue // until the EVSE is known
			res = rejectedOnly(l)
		} else {
			if res, err = svc.ingest(ctx, tenantID, box, l); err != nil {
				return Session{}, ingest.Result{}, err
			}
			ingested = res.Accepted > 0
		}
	}
	// Meter values kept from earlier events go to the connector now.
	var flushed []int64
	if sourceID != nil && found {
		for _, pe := range cur.Events {
			if len(pe.MeterValue) == 0 {
				continue
			}
			l, err := ingest.DecodeOCPPMeterValueList(ingest.OCPP201, ref, pe.MeterValue)
			if err == nil {
				r, err := svc.ingest(ctx, tenantID, box, l)
				if err != nil {
					return Session{}, ingest.Result{}, err
				}
				ingested = ingested || r.Accepted > 0
			}
			flushed = append(flushed, pe.SeqNo)
		}
	}

	var out Session
	completed := false
	err = svc.store.write(ctx, tenantID, func(w *Tx) error {
		cur, found, err := w.byExternalID(ctx, box, ev.TransactionID)
		if err != nil {
			return err
		}
		if found && slices.ContainsFunc(cur.Events, func(x Event) bool { return x.SeqNo == e.SeqNo }) {
			out = cur // the same event, raced in from a retry
			return nil
		}
		next := cur
		next.Events = append(slices.Clone(cur.Events), e)
		for i := range next.Events {
			if slices.Contains(flushed, next.Events[i].SeqNo) {
				next.Events[i].MeterValue = nil
			}
		}
		slices.SortFunc(next.Events, func(a, b Event) int { return int(a.SeqNo - b.SeqNo) })
		l := fold(next.Events)
		next.StartTime, next.StopTime, next.MeterStart, next.MeterStop = l.start, l.stop, l.meterStart, l.meterStop
		next.IDTag, next.StopReason = l.idTag, l.stopReason
		if next.SourceID == nil {
			next.SourceID = sourceID
		}
		if !found {
			next = Session{SourceID: sourceID, ChargeBoxID: box, ExternalID: ev.TransactionID, Protocol: ProtocolOCPP201,
				Events: next.Events, StartTime: l.start, StopTime: l.stop, MeterStart: l.meterStart, MeterStop: l.meterStop,
				IDTag: l.idTag, StopReason: l.stopReason, Status: StatusActive}
			if l.ended {
				next.Status = StatusCompleted
			}
			out, completed = next, next.Status == StatusCompleted
			return w.insert(ctx, &out)
		}
		if cur.Protocol != ProtocolOCPP201 {
			return api.Errorf(api.CodeConflict, "transaction %s of %s is an %s session", ev.TransactionID, box, cur.Protocol)
		}
		inputs := !sameID(cur.SourceID, next.SourceID) || cur.IDTag != next.IDTag || !cur.StartTime.Equal(next.StartTime) ||
			!sameTime(cur.StopTime, next.StopTime) || !sameFloat(cur.MeterStart, next.MeterStart) ||
			!sameFloat(cur.MeterStop, next.MeterStop) || cur.StopReason != next.StopReason ||
			!slices.Equal(cur.states(), l.states)
		switch {
		case !l.ended:
			next.Status = StatusActive
		case cur.Status == StatusActive || inputs || ingested:
			next.Status, next.FailureReason = StatusCompleted, ""
		}
		out = next
		if next.Status == cur.Status && !inputs {
			return w.updateEvents(ctx, &out) // nothing a billing job sees
		}
		completed = next.Status == StatusCompleted
		return w.update(ctx, &out)
	})
	if err != nil {
		return Session{}, ingest.Result{}, err
	}
	// Before the pricing worker is woken, so that it sees the End record.
	refused, err := svc.keepSigned(ctx, out.ID, out.SourceID, signed)
	if err != nil {
		return Session{}, ingest.Result{}, err
	}
	res = WithRefused(res, refused)
	if completed {
		svc.Wake()
	}
	out, err = svc.store.Get(ctx, tenantID, out.PublicID)
	return out, res, err
}

// registerAt returns the energy register (Wh) sampled at t, or nil.
func registerAt(rows []ingest.Row, t *time.Time) *float64 {
	if t == nil {
		return nil
	}
	for _, r := range rows {
		if r.Metric == "energy_import" && r.Time.Equal(*t) {
			v := r.Value // the decoder has converted it to Wh
			return &v
		}
	}
	return nil
}
