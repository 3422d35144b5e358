package sessions

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/ocmf"
)

// Status is where a session is in its lifecycle.
type Status string

// The session states: active → completed → priced, or failed with a reason.
// A failed session is repriceable; a priced one too (a new version).
const (
	StatusActive    Status = "active"    // started, not stopped
	StatusCompleted Status = "completed" // stopped, waiting for the pricing worker
	StatusPriced    Status = "priced"    // priced: itemised result and CDR stored
	StatusFailed    Status = "failed"    // could not be priced; FailureReason says why
)

// Statuses lists every status.
var Statuses = []Status{StatusActive, StatusCompleted, StatusPriced, StatusFailed}

// Protocol is how a session was reported.
type Protocol string

// The protocols.
const (
	ProtocolAPI     Protocol = "api"
	ProtocolOCPP16  Protocol = "ocpp1.6"
	ProtocolOCPP201 Protocol = "ocpp2.0.1"
)

// Session is a charging session as stored.
type Session struct {
	ID       int64
	PublicID string
	TenantID int64
	// SourceID is the connector (or EVSE) the session used; nil when its
	// source was deleted, or an OCPP 2.0.1 transaction has not said its
	// EVSE yet.
	SourceID *int64
	// ChargeBoxID is the OCPP charge box; "" for sessions started through
	// the API. ExternalID is unique per tenant and charge box: the OCPP
	// transaction id, or the caller's id of an API session.
	ChargeBoxID string
	ExternalID  string
	Protocol    Protocol
	IDTag       string
	Status      Status
	StartTime   time.Time
	StopTime    *time.Time
	// MeterStart and MeterStop are the energy register at the start and
	// stop, in Wh, as reported by the lifecycle events.
	MeterStart, MeterStop *float64
	StopReason            string
	FailureReason         string
	// Events are an OCPP 2.0.1 transaction's events, in seqNo order.
	Events []Event

	TariffRef string
	Currency  string
	// Usage and invoice totals of the last pricing.
	EnergyKWh, ChargingHours, ParkingHours decimal.NullDecimal
	TotalExclVAT, TotalInclVAT             decimal.NullDecimal
	// Price is the itemised tariffs.Result of the last pricing, CDR its
	// OCPI 2.2.1 CDR, both as stored JSON.
	Price      json.RawMessage
	CDR        json.RawMessage
	PriceCount int
	PricedAt   *time.Time

	CreatedAt time.Time
	UpdatedAt time.Time
	// Version is the session's position in its tenant's change order
	// (change_seq): it grows with every change a billing pull must see.
	Version int64

	// Read with the session from its source.
	Source           *string // public id
	SourceExternalID *string
	SiteID           *string
}

// Event is an OCPP 2.0.1 TransactionEvent as kept with its session: what
// the lifecycle needs of it, so events arriving late, twice or out of order
// fold into the same session (see fold).
type Event struct {
	SeqNo         int64     `json:"seq_no"`
	Type          string    `json:"type"`
	Time          time.Time `json:"time"`
	Trigger       string    `json:"trigger,omitempty"`
	ChargingState string    `json:"charging_state,omitempty"`
	StoppedReason string    `json:"stopped_reason,omitempty"`
	Offline       bool      `json:"offline,omitempty"`
	IDToken       string    `json:"id_token,omitempty"`
	EVSE          int       `json:"evse,omitempty"`
	// MeterBegin and MeterEnd are the energy register (Wh) the event's
	// meter values sampled with context Transaction.Begin and
	// Transaction.End.
	MeterBegin *float64 `json:"meter_begin,omitempty"`
	MeterEnd   *float64 `json:"meter_end,omitempty"`
	// MeterValue holds the event's meter values while its session does not
	// know its EVSE yet (see Service.TransactionEvent201).
	MeterValue []json.RawMessage `json:"meter_value,omitempty"`
}

// lifecycle is what a transaction's events say about its session.
type lifecycle struct {
	start                 time.Time
	stop                  *time.Time
	meterStart, meterStop *float64
	idTag                 string
	evse                  int
	stopReason            string
	ended                 bool
	states                []StateChange
}

// fold derives a session from its OCPP 2.0.1 events, whatever order they
// arrived in. The start is the earliest event's time (the Started event's,
// once it is in); the stop is the Ended event's time; the id token and EVSE
// come from the first event (by time) that carries them; the charging
// states are every reported chargingState in time order.
func fold(events []Event) lifecycle {
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return int(a.SeqNo - b.SeqNo)
	})
	var l lifecycle
	for i, e := range sorted {
		if i == 0 {
			l.start = e.Time
		}
		if l.idTag == "" {
			l.idTag = e.IDToken
		}
		if l.evse == 0 {
			l.evse = e.EVSE
		}
		if e.ChargingState != "" {
			l.states = append(l.states, StateChange{Time: e.Time, State: e.ChargingState})
		}
		if e.MeterBegin != nil && l.meterStart == nil {
			v := *e.MeterBegin
			l.meterStart = &v
		}
		if e.MeterEnd != nil {
			v := *e.MeterEnd
			l.meterStop = &v
		}
		if e.Type == "Ended" && !l.ended {
			l.ended = true
			t := e.Time
			l.stop = &t
			l.stopReason = e.StoppedReason
			if l.stopReason == "" {
				l.stopReason = "Local" // OCPP 2.0.1's default reading of a missing reason
			}
		}
	}
	return l
}

// states returns the session's charging states (OCPP 2.0.1).
func (s *Session) states() []StateChange {
	if len(s.Events) == 0 {
		return nil
	}
	return fold(s.Events).states
}

// Summary is a session as billing pulls it: the items of GET /v1/sessions
// and the rows of the export, in every format. Money and volumes are
// decimals written as strings; null until the session is priced.
type Summary struct {
	ID               string              `json:"id"`
	ExternalID       string              `json:"external_id"`
	ChargeBoxID      *string             `json:"charge_box_id"`
	Protocol         Protocol            `json:"protocol"`
	Source           *string             `json:"source"`
	SourceExternalID *string             `json:"source_external_id"`
	SiteID           *string             `json:"site_id"`
	IDTag            string              `json:"id_tag"`
	Status           Status              `json:"status"`
	StartTime        time.Time           `json:"start_time"`
	StopTime         *time.Time          `json:"stop_time"`
	MeterStart       *float64            `json:"meter_start"` // Wh
	MeterStop        *float64            `json:"meter_stop"`  // Wh
	StopReason       *string             `json:"stop_reason"`
	FailureReason    *string             `json:"failure_reason"`
	Tariff           *string             `json:"tariff"`
	Currency         *string             `json:"currency"`
	EnergyKWh        decimal.NullDecimal `json:"energy_kwh"`
	ChargingHours    decimal.NullDecimal `json:"charging_hours"`
	ParkingHours     decimal.NullDecimal `json:"parking_hours"`
	TotalExclVAT     decimal.NullDecimal `json:"total_excl_vat"` // invoice total, rounded to the currency's minor unit
	TotalInclVAT     decimal.NullDecimal `json:"total_incl_vat"`
	PricedAt         *time.Time          `json:"priced_at"`
	CreatedAt        time.Time           `json:"created_at"`
	UpdatedAt        time.Time           `json:"updated_at"`
	Version          int64               `json:"version"`
	// SignatureState is the weakest status of the session's signed meter
	// values (SignatureState); set on a single session's answer only.
	SignatureState ocmf.Status `json:"signature_state,omitempty"`
	// CDRProblems names what keeps the session's CDR from being valid
	// OCPI 2.2.1 and where to set it (cdrProblems); GET …/cdr refuses such
	// a CDR. Set on a single session's answer only, when there are any.
	CDRProblems []string `json:"cdr_problems,omitempty"`
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Summary returns the billing view of the session.
func (s *Session) Summary() Summary {
	return Summary{
		ID: s.PublicID, ExternalID: s.ExternalID, ChargeBoxID: nonEmpty(s.ChargeBoxID), Protocol: s.Protocol,
		Source: s.Source, SourceExternalID: s.SourceExternalID, SiteID: s.SiteID,
		IDTag: s.IDTag, Status: s.Status, StartTime: s.StartTime.UTC(), StopTime: utcPtr(s.StopTime),
		MeterStart: s.MeterStart, MeterStop: s.MeterStop,
		StopReason: nonEmpty(s.StopReason), FailureReason: nonEmpty(s.FailureReason),
		Tariff: nonEmpty(s.TariffRef), Currency: nonEmpty(s.Currency),
		EnergyKWh: s.EnergyKWh, ChargingHours: s.ChargingHours, ParkingHours: s.ParkingHours,
		TotalExclVAT: s.TotalExclVAT, TotalInclVAT: s.TotalInclVAT,
		PricedAt: utcPtr(s.PricedAt), CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(), Version: s.Version,
		CDRProblems: s.cdrProblems(),
	}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Detail is one session as GET /v1/sessions/{id} shows it: the summary,
// the itemised price of a priced session, the OCPP 2.0.1 events, and for
// an active session a running estimate.
type Detail struct {
	Summary
	Price    json.RawMessage `json:"price"`
	Events   []Event         `json:"events,omitempty"`
	Estimate *Estimate       `json:"estimate,omitempty"`
}

// Estimate is the running cost of an active session: the session priced
// as if it stopped now, with the readings so far. Error says why there is
// none (no tariff, say); the other fields are then empty.
type Estimate struct {
	AsOf         time.Time           `json:"as_of"`
	Tariff       string              `json:"tariff,omitempty"`
	Currency     string              `json:"currency,omitempty"`
	EnergyKWh    decimal.NullDecimal `json:"energy_kwh"`
	TotalExclVAT decimal.NullDecimal `json:"total_excl_vat"`
	TotalInclVAT decimal.NullDecimal `json:"total_incl_vat"`
	Error        string              `json:"error,omitempty"`
}
