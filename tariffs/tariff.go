package tariffs

import (
	"encoding/json"
	"time"

	"github.com/govalues/decimal"
)

// Tariff is an OCPI 2.2.1 Tariff object as the CPO writes it, plus this
// service's extension (Extension) for what OCPI cannot say: the IANA time
// zone the restrictions are read in — OCPI takes it from the Location, which
// a CDR does not carry — and the supply and export tariffs of meters.
//
// A Tariff is read with ParseTariff, which validates it; one built in Go must
// pass Validate before it prices anything. Do not change a Tariff after it
// has been validated: pricing uses a compiled form made by validation.
type Tariff struct {
	CountryCode   string          // ISO 3166 alpha-2 of the CPO that owns the tariff
	PartyID       string          // CPO party id (3 characters)
	ID            string          // unique within the CPO (≤ 36 characters)
	Currency      string          // ISO 4217 code
	Type          TariffType      // empty: valid for all sessions
	AltText       []DisplayText   // tariff_alt_text
	AltURL        string          // tariff_alt_url
	MinPrice      *Price          // a session costs at least this much
	MaxPrice      *Price          // a session costs at most this much
	Elements      []Element       // first match per dimension wins
	StartDateTime time.Time       // zero when absent; the tariff is valid from this instant
	EndDateTime   time.Time       // zero when absent; the tariff is not valid after this instant
	EnergyMix     json.RawMessage // kept as written: the pricing does not read it
	LastUpdated   time.Time       // zero when absent
	Extension     *Extension      // the "gridmetrics" member; nil for a plain OCPI tariff

	plan *plan
}

// TariffType is OCPI's TariffType: which sessions the tariff is for.
type TariffType string

// The OCPI tariff types.
const (
	AdHocPayment TariffType = "AD_HOC_PAYMENT"
	ProfileCheap TariffType = "PROFILE_CHEAP"
	ProfileFast  TariffType = "PROFILE_FAST"
	ProfileGreen TariffType = "PROFILE_GREEN"
	Regular      TariffType = "REGULAR"
)

// DisplayText is OCPI's multi-language text.
type DisplayText struct {
	Language string
	Text     string
}

// Price is OCPI's Price class, used by min_price and max_price. InclVAT is
// optional in OCPI; see the package documentation for how an absent one
// clamps.
type Price struct {
	ExclVAT decimal.Decimal
	InclVAT decimal.NullDecimal
}

// Element is a Tariff Element: price components that apply under the same
// restrictions. Applicability is decided per dimension, not per element.
type Element struct {
	PriceComponents []PriceComponent
	Restrictions    *Restrictions // nil: always applies
}

// Component names a priced dimension. The first four are OCPI's
// TariffDimensionType; STANDING and DEMAND are the supply extension; the
// rest only name lines of a Result.
type Component string

// Price component types.
const (
	Energy      Component = "ENERGY"       // per kWh
	Flat        Component = "FLAT"         // once per session
	ParkingTime Component = "PARKING_TIME" // per hour not charging
	Time        Component = "TIME"         // per hour charging (or reserved, with a reservation restriction)
	Standing    Component = "STANDING"     // supply: per local calendar day
	Demand      Component = "DEMAND"       // supply: per kW of the billing period's peak demand
)

// Components that only appear on result lines.
const (
	ReservationTime Component = "RESERVATION_TIME" // a TIME component priced during a reservation
	ReservationFlat Component = "RESERVATION_FLAT" // a FLAT component of a reservation
	MinPriceAdjust  Component = "MIN_PRICE"        // raises the total to min_price
	MaxPriceAdjust  Component = "MAX_PRICE"        // lowers the total to max_price
)

// PriceComponent prices one dimension.
type PriceComponent struct {
	Type  Component
	Price decimal.Decimal // per unit, excluding VAT
	// VAT is the VAT percentage. Absent (Valid false) means no VAT applies,
	// which OCPI distinguishes from 0 %: both add nothing, but results report
	// them apart (Line.VATRate, Result.VAT).
	VAT decimal.NullDecimal
	// StepSize is the billing granularity: Wh for ENERGY, seconds for TIME
	// and PARKING_TIME, W for DEMAND; 0 means none. FLAT and STANDING ignore it.
	StepSize int64
	// Dynamic, for ENERGY in supply and export tariffs, takes the price per
	// kWh from a price feed instead of Price (which must then be 0).
	Dynamic *DynamicPrice
}

// DynamicPrice is the supply extension for wholesale-indexed energy: the unit
// price at a moment is feed price × Multiplier + Markup, then raised to Floor
// and lowered to Cap when those are set.
type DynamicPrice struct {
	PriceFeed  string              // id of the price_feed source whose price series is read
	Multiplier decimal.NullDecimal // default 1
	Markup     decimal.NullDecimal // default 0, per kWh excluding VAT
	Floor      decimal.NullDecimal // lowest unit price, optional
	Cap        decimal.NullDecimal // highest unit price, optional
}

// Restrictions is OCPI's TariffRestrictions. All set restrictions must hold
// at a moment for the element to apply then (a logical AND, each restriction
// read on its own — see the package documentation).
type Restrictions struct {
	StartTime   string // "HH:MM" local time, inclusive
	EndTime     string // "HH:MM" local time, exclusive; "00:00" is the end of the day
	StartDate   string // "YYYY-MM-DD" local date, inclusive
	EndDate     string // "YYYY-MM-DD" local date, exclusive
	MinKWh      decimal.NullDecimal
	MaxKWh      decimal.NullDecimal
	MinCurrent  decimal.NullDecimal // A, sum over phases
	MaxCurrent  decimal.NullDecimal
	MinPower    decimal.NullDecimal // kW
	MaxPower    decimal.NullDecimal
	MinDuration *int64 // seconds since the session start, inclusive
	MaxDuration *int64 // seconds since the session start, exclusive
	DayOfWeek   []DayOfWeek
	Reservation ReservationRestriction
}

// DayOfWeek is OCPI's DayOfWeek.
type DayOfWeek string

// The days of the week, as OCPI spells them.
const (
	Monday    DayOfWeek = "MONDAY"
	Tuesday   DayOfWeek = "TUESDAY"
	Wednesday DayOfWeek = "WEDNESDAY"
	Thursday  DayOfWeek = "THURSDAY"
	Friday    DayOfWeek = "FRIDAY"
	Saturday  DayOfWeek = "SATURDAY"
	Sunday    DayOfWeek = "SUNDAY"
)

// ReservationRestriction is OCPI's ReservationRestrictionType.
type ReservationRestriction string

// The reservation restrictions.
const (
	Reserved           ReservationRestriction = "RESERVATION"         // the reservation's own costs
	ReservationExpires ReservationRestriction = "RESERVATION_EXPIRES" // costs of a reservation that expired unused
)

// Extension is the "gridmetrics" member of a tariff: everything this service
// needs that OCPI has no field for. It is a separate member, not extra fields
// among OCPI's, so the OCPI part of a tariff reads and writes exactly as OCPI
// defines it and MarshalOCPI can drop the extension for a peer.
type Extension struct {
	// Kind is what the tariff prices; empty means KindCharging.
	Kind Kind
	// TimeZone is the IANA zone in which start_time, end_time, start_date,
	// end_date, day_of_week, STANDING days and billing periods are read.
	// Required for supply and export tariffs; a charging tariff without one
	// can only price sessions if it has no local-time restriction.
	TimeZone string
	// BillingPeriod is the period over which block rates (min_kwh/max_kwh)
	// accumulate and DEMAND peaks are taken; empty means BillingMonth.
	BillingPeriod BillingPeriod
	// DemandWindow is the averaging window of DEMAND in seconds: 900, 1800 or
	// 3600; 0 means 900.
	DemandWindow int64
}

// Kind is what a tariff prices.
type Kind string

// The tariff kinds.
const (
	KindCharging Kind = "charging" // OCPI charging sessions (PriceSession)
	KindSupply   Kind = "supply"   // a meter's imported energy (PriceMeter)
	KindExport   Kind = "export"   // a meter's exported energy, credited (PriceMeter)
)

// BillingPeriod is the period of block rates and demand charges.
type BillingPeriod string

// The billing periods: local calendar months or days.
const (
	BillingMonth BillingPeriod = "MONTH"
	BillingDay   BillingPeriod = "DAY"
)

// kind returns the tariff's kind, charging when no extension says otherwise.
func (t *Tariff) kind() Kind {
	if t.Extension == nil || t.Extension.Kind == "" {
		return KindCharging
	}
	return t.Extension.Kind
}

// SetTimeZone sets the IANA zone the tariff's restrictions are read in — for
// an OCPI tariff, the time_zone of the Location it is used at — and validates
// the tariff again.
func (t *Tariff) SetTimeZone(name string) error {
	if t.Extension == nil {
		t.Extension = &Extension{}
	}
	t.Extension.TimeZone = name
	return t.Validate()
}
