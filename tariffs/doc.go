// Package tariffs is the pricing engine of Gridmetrics: the OCPI 2.2.1 tariff
// model with this service's supply extensions, and a pure function from
// (tariff, usage) to an itemised price. It has no database and no HTTP; the
// tariff store and its routes build on it, and package costs prices meters
// with it.
//
// # Model
//
// ParseTariff reads an OCPI 2.2.1 Tariff exactly as OCPI writes it and
// validates it, returning every problem with its JSON path
// (`elements[2].restrictions.start_time: "25:00" is not a time …`). What OCPI
// cannot express lives in one extension member, so the OCPI part stays
// untouched and MarshalOCPI can drop it for a peer:
//
//	"gridmetrics": {"kind": "supply", "timezone": "Europe/Amsterdam",
//	                "billing_period": "MONTH", "demand_window": 900}
//
// A supply or export tariff may also use the price component types STANDING
// (per local day) and DEMAND (per kW of the billing period's peak), and an
// ENERGY component may carry "gridmetrics": {"price_feed": …, "multiplier",
// "markup", "floor", "cap"} for a price taken from a price feed.
//
// All money and volumes are decimals (github.com/govalues/decimal), from the
// JSON text to the result; nothing goes through float64.
//
// # Usage and results
//
// PriceSession prices a charging session given as OCPI charging periods;
// ParseCDR and CDR.Reprice do the same for an OCPI CDR and write the total_*
// fields back. ParseCDRLenient reads a CDR for reconciliation: it refuses
// only what pricing needs (times, currency, charging periods, tariffs) and
// keeps the rest of OCPI's rules as warnings (CDR.Warnings). PriceMeter prices a meter's energy per settlement interval
// with a supply or export tariff. Every result lists its lines (component,
// element, period, volume, unit price, amount excluding and including VAT)
// and totals per dimension, exact, at 4 decimal places for a CDR and at the
// currency's minor unit for an invoice, rounded half away from zero.
//
// # Readings of the OCPI text
//
// Where the OCPI 2.2.1 Tariffs and CDRs modules leave room, this package reads
// them as follows.
//
//   - First element per dimension. At each moment, for each dimension, the
//     first element in the list that has a component of that dimension and
//     whose restrictions all hold prices it; an element's other components do
//     not make it "win" a dimension it does not price. No such element: the
//     dimension is free at that moment. Two components of one dimension in
//     one element are a validation error (the second could never apply).
//
//   - Restrictions are a logical AND, each read on its own at the moment. So
//     start_time 22:00, end_time 06:00 with day_of_week [FRIDAY] holds on
//     Friday 00:00–06:00 and Friday 22:00–24:00, not on Saturday morning: the
//     text says an element is active "if and only if all of the properties
//     … match", and day_of_week is a property of the moment, not of the night.
//
//   - Time windows. start_time is inclusive, end_time exclusive; end_time
//     "00:00" is the end of the day; end_time < start_time wraps past
//     midnight; start_time alone runs to the end of the day, end_time alone
//     from its start. start_time = end_time is an empty window and rejected,
//     except "00:00"–"00:00", the whole day. Local time is the tariff's IANA
//     zone (Extension.TimeZone; OCPI takes it from the Location, which a CDR
//     lacks). Windows are wall-clock: on a 23-hour day 00:00–07:00 lasts six
//     hours, on a 25-hour day eight, and a window edge in the skipped hour
//     takes effect when the clock jumps.
//
//   - start_date inclusive, end_date exclusive, both local dates.
//
//   - min_kwh inclusive, max_kwh exclusive, on the energy of the session so
//     far. Within a period energy flows linearly, so a threshold is crossed
//     at the interpolated instant and the period is priced in two parts,
//     the energy of each exact.
//
//   - min/max_current and min/max_power are read per period: a min_ bound
//     holds if the period's lowest value (MIN_*, else the average CURRENT or
//     POWER, else MAX_*) is at or above it, a max_ bound if its highest value
//     (MAX_*, else average, else MIN_*) is below it — the restriction holds
//     throughout the period, as a CPO must start a new period when it flips.
//     Without a current dimension current restrictions do not hold; without
//     a power dimension the period's average power (energy over charging
//     time) is used. Parking draws no current and no power.
//
//   - min_duration inclusive, max_duration exclusive, from the session start.
//
//   - Time. TIME is charging time, PARKING_TIME is time not charging; both by
//     the clock: a period lasts until the next one starts (the last until the
//     session end), and its TIME and PARKING_TIME volumes only divide it, the
//     charging part first. A period with neither is charging if energy
//     flowed, parking otherwise.
//
//   - Volumes and timestamps. A CDR says some things twice, and a received
//     one may disagree with itself. One rule prices it: time is priced by
//     the timestamps, energy by the ENERGY volumes (ENERGY_IMPORT where a
//     period has no ENERGY). OCPI defines a period as lasting until the next
//     one starts, and the timestamps also place each period for the time
//     restrictions, so they must be the time that is priced; they are exact,
//     where volumes in hours are rounded by whoever wrote them. Energy has
//     no other source than the volumes, total_energy being their sum.
//     CDR.Warnings lists each disagreement with the values on both sides and
//     the difference: a period's TIME (plus PARKING_TIME) against its length
//     by the clock, total_energy against the sum of the volumes, total_time
//     and total_parking_time against the session's time and parking by the
//     clock. Differences within rounding are not disagreements: each written
//     value may be off by half a unit of the third decimal place (0.0005 h
//     or kWh; OCPI's examples write three places), so the sum of 4 period
//     volumes may differ from total_energy by 0.0025 kWh. Reading a CDR in
//     full (ParseCDR) does not refuse a disagreement either: the rule prices
//     it.
//
//   - step_size, once per session (OCPI CDR module): ENERGY on the session's
//     total billed energy; TIME and PARKING_TIME together: when parking was
//     billed, the total billed parking time is rounded and charging time is
//     not ("charging … is not rounded up, as it is followed by another time
//     based period"), otherwise the total billed charging time is rounded.
//     The step is that of the component that priced the last billed stretch
//     of the dimension, and what rounding adds is billed on that stretch at
//     its price — the module's "switching" examples and the CDR module's
//     17:00 examples. Only billed (priced) time counts: free stretches are
//     not rounded up. step_size 0 means no rounding.
//
//   - FLAT is charged once per session: the FLAT of the element that prices
//     FLAT at the first moment any element does — at the session start
//     unless every FLAT element is restricted then. A reservation has its own
//     FLAT (tariff_16 charges both the 2.00 reservation fee and the 0.50
//     start fee).
//
//   - Reservations. Elements with a reservation restriction price only the
//     reservation, the others only the session. An unused (expired)
//     reservation is priced by RESERVATION_EXPIRES elements first, then
//     RESERVATION ones, whatever their order (the module's note); a used one
//     by RESERVATION elements only. Reservation time is billed per hour with
//     its own step_size and goes to total_reservation_cost with the
//     reservation FLAT. In a CDR, periods with RESERVATION_TIME before the
//     first other period are the reservation, expired if nothing follows.
//
//   - VAT. A missing vat means no VAT applies: incl = excl, and the line's
//     VATRate is null — reported apart from 0 % in Result.VAT.
//
//   - min_price/max_price clamp the session total (reservation included)
//     excluding VAT against excl_vat and including VAT against incl_vat,
//     separately (the module's notes). Without incl_vat the including-VAT
//     total moves by the same amount as the excluding one. The difference is
//     an adjustment line; the per-dimension CDR costs are not scaled, so with
//     a clamp they need not add up to total_cost.
//
//   - start_date_time/end_date_time: a session is priced by the tariff valid
//     when it starts (the module's consumer-law note); end_date_time is the
//     last valid instant ("the time after which … no longer valid").
//
//   - A charging period without tariff_id: when no period names a tariff,
//     the tariff prices them all; when some do, periods without one are free
//     ("no Tariff is relevant during this period") and a period naming
//     another tariff is an error.
//
//   - The tariff object's last_updated is required by OCPI but missing from
//     the specification's own PUT example; it is accepted as absent.
//
//   - energy_mix is kept as written (its class is in the Locations module).
//
//   - DateTimes must be UTC; a missing zone designator means UTC.
//
//   - Errata in the examples: tariff_4's Saturday case bills charging at
//     1.20/h (2.28, total 12.28/13.861) where the tariff says 1.25/h (2.375,
//     total 12.375/13.975); this package prices the tariff as written.
//     tariff_16's table calls the reservation time "Parking time".
//
//   - CDR totals. Reprice writes total_cost and the total_*_cost fields of
//     the dimensions that were priced (absent ones stay absent), rounded to
//     4 places; total_energy, total_time and total_parking_time come from
//     the periods (total_energy is kept when no period has ENERGY). A credit
//     CDR gets its total_cost negated and nothing else, as the module says.
//
// # Supply extensions
//
// A supply tariff prices imported energy, an export tariff credits exported
// energy (negative amounts, the unit price shown negative). Readings:
//
//   - min_kwh/max_kwh count the energy of the billing period (a local
//     calendar month by default, or a day), which makes block rates; the
//     count starts with the first interval of each period given, so a bill
//     should be priced from the period's start.
//   - min/max_power read the interval's average power. Time windows, dates
//     and days are local, as for sessions. Duration, current and reservation
//     restrictions, FLAT, TIME, PARKING_TIME and min/max_price do not apply
//     and are validation errors.
//   - STANDING is per local calendar day from the first interval's day to the
//     last's (a day inside the usage with no data is still a day of supply);
//     a 23- or 25-hour day is one day. Its elements may be restricted by date
//     and weekday only.
//   - DEMAND: the average import power of each demand window (15, 30 or 60
//     minutes from the local midnight), the peak per billing period, per
//     DEMAND element (each window is taken by the first DEMAND element whose
//     restrictions hold at its start — so "on-peak" and "all hours" demand
//     cannot both be charged on one window; first match wins). Windows
//     missing data count what they have. step_size is in W.
//   - A dynamic price is looked up at the start of each priced piece (so at
//     least per settlement interval); a feed coarser than the interval is
//     read per interval, a finer one only at interval starts. A missing
//     price is an error (ErrNoPrice), never zero. The component's own price
//     must be 0; the markup is gridmetrics.markup.
//   - step_size applies once per billing period (ENERGY) and per peak
//     (DEMAND), as OCPI's once per session.
//
// # Limits
//
// A session or reservation may last at most MaxSessionSpan and a meter
// usage span MaxMeterSpan: the cost of pricing grows with the number of
// local days covered, and longer inputs are data errors.
package tariffs
