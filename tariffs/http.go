package tariffs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/govalues/decimal"

	"github.com/gridmetrics/gridmetrics/api"
	"github.com/gridmetrics/gridmetrics/auth"
)

// Mount registers the tariff and pricing routes on an authenticated router.
// Reading tariffs, quoting and pricing need the read or billing scope;
// creating, changing, archiving and assigning need admin.
func Mount(r fiber.Router, st *Store) {
	h := handlers{st: st, now: time.Now}
	read := auth.RequireAny(auth.ScopeRead, auth.ScopeBilling)
	admin := auth.Require(auth.ScopeAdmin)
	r.Get("/tariffs", read, h.list)
	r.Post("/tariffs", admin, h.create)
	r.Get("/tariffs/:id", read, h.get)
	r.Put("/tariffs/:id", admin, h.update)
	r.Delete("/tariffs/:id", admin, h.archive)
	r.Get("/tariffs/:id/versions", read, h.versions)
	r.Get("/tariffs/:id/versions/:version", read, h.version)
	r.Post("/tariffs/:id/quote", read, h.quote)
	r.Get("/tariffs/:id/assignments", read, h.assignments)
	r.Post("/tariffs/:id/assignments", admin, h.assign)
	r.Patch("/tariffs/:id/assignments/:assignment", admin, h.updateAssignment)
	r.Delete("/tariffs/:id/assignments/:assignment", admin, h.deleteAssignment)
	r.Post("/pricing/cdr", read, h.priceCDR)
}

type handlers struct {
	st  *Store
	now func() time.Time
}

func tenant(c *fiber.Ctx) int64 { return auth.PrincipalOf(c).TenantID }

func (h handlers) list(c *fiber.Ctx) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	f := ListFilter{Kind: Kind(c.Query("kind")), ExternalID: c.Query("external_id")}
	if err := checkKind("kind", f.Kind, true); err != nil {
		return err
	}
	if f.Archived, err = api.QueryBool(c, "archived"); err != nil {
		return err
	}
	list, total, err := h.st.List(c.UserContext(), tenant(c), f, page)
	if err != nil {
		return err
	}
	return api.List(c, list, api.PagePagination(page, total))
}

func checkKind(name string, k Kind, emptyOK bool) error {
	switch k {
	case KindCharging, KindSupply, KindExport:
		return nil
	case "":
		if emptyOK {
			return nil
		}
	}
	return api.Validation(name, "%q is not a tariff kind (charging, supply, export)", k)
}

// tariffBody reads an OCPI tariff object sent as the whole request body.
func tariffBody(c *fiber.Ctx) (*Tariff, error) {
	if ct := c.Get(fiber.HeaderContentType); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != fiber.MIMEApplicationJSON {
			return nil, api.Validation("", "content type %q is not supported; send application/json", ct)
		}
	}
	// The parsed tariff keeps raw parts (energy_mix): ReadBody's bytes are
	// the handler's own, not a buffer Fiber reuses.
	body, err := api.ReadBody(c)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, api.Validation("", "request body is empty; send an OCPI 2.2.1 tariff object")
	}
	t, err := ParseTariff(body)
	if err != nil {
		return nil, problemsError("", err)
	}
	return t, nil
}

func (h handlers) create(c *fiber.Ctx) error {
	t, err := tariffBody(c)
	if err != nil {
		return err
	}
	s, err := h.st.Create(c.UserContext(), tenant(c), t)
	if err != nil {
		return err
	}
	c.Location("/v1/tariffs/" + s.PublicID)
	return api.Created(c, s)
}

func (h handlers) get(c *fiber.Ctx) error {
	if at := c.Query("at"); at != "" {
		t, err := api.ParseQueryTime("at", at)
		if err != nil {
			return err
		}
		s, err := h.st.GetAt(c.UserContext(), tenant(c), c.Params("id"), t)
		if err != nil {
			return err
		}
		return api.OK(c, s)
	}
	s, err := h.st.Get(c.UserContext(), tenant(c), c.Params("id"))
	if err != nil {
		return err
	}
	return api.OK(c, s)
}

func (h handlers) update(c *fiber.Ctx) error {
	t, err := tariffBody(c)
	if err != nil {
		return err
	}
	s, err := h.st.Update(c.UserContext(), tenant(c), c.Params("id"), t)
	if err != nil {
		return err
	}
	return api.OK(c, s)
}

func (h handlers) archive(c *fiber.Ctx) error {
	if err := h.st.Archive(c.UserContext(), tenant(c), c.Params("id")); err != nil {
		return err
	}
	return api.NoContent(c)
}

func (h handlers) versions(c *fiber.Ctx) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	list, total, err := h.st.Versions(c.UserContext(), tenant(c), c.Params("id"), page)
	if err != nil {
		return err
	}
	return api.List(c, list, api.PagePagination(page, total))
}

func (h handlers) version(c *fiber.Ctx) error {
	n, err := strconv.Atoi(c.Params("version"))
	if err != nil || n < 1 {
		return api.Validation("version", "%q is not a version number", c.Params("version"))
	}
	v, err := h.st.Version(c.UserContext(), tenant(c), c.Params("id"), n)
	if err != nil {
		return err
	}
	return api.OK(c, v)
}

func (h handlers) assignments(c *fiber.Ctx) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	list, total, err := h.st.Assignments(c.UserContext(), tenant(c), c.Params("id"), page)
	if err != nil {
		return err
	}
	return api.List(c, list, api.PagePagination(page, total))
}

func (h handlers) assign(c *fiber.Ctx) error {
	var n NewAssignment
	if err := api.DecodeJSON(c, &n); err != nil {
		return err
	}
	a, err := h.st.Assign(c.UserContext(), tenant(c), c.Params("id"), n)
	if err != nil {
		return err
	}
	c.Location("/v1/tariffs/" + a.TariffID + "/assignments/" + a.PublicID)
	return api.Created(c, a)
}

func (h handlers) updateAssignment(c *fiber.Ctx) error {
	var p AssignmentPatch
	if err := api.DecodeJSON(c, &p); err != nil {
		return err
	}
	a, err := h.st.UpdateAssignment(c.UserContext(), tenant(c), c.Params("id"), c.Params("assignment"), p)
	if err != nil {
		return err
	}
	return api.OK(c, a)
}

func (h handlers) deleteAssignment(c *fiber.Ctx) error {
	if err := h.st.DeleteAssignment(c.UserContext(), tenant(c), c.Params("id"), c.Params("assignment")); err != nil {
		return err
	}
	return api.NoContent(c)
}

// CDRPricing is the body of POST /v1/pricing/cdr: an OCPI CDR and the
// tariff to price it with — inline (Tariff), stored (TariffID, the version
// valid when the CDR's session started), or neither: the CDR's own.
type CDRPricing struct {
	Tariff   json.RawMessage `json:"tariff"`
	TariffID string          `json:"tariff_id"`
	CDR      json.RawMessage `json:"cdr"`
	// Timezone, an IANA name, is the zone the tariff's restrictions are
	// read in (OCPI's Location time_zone); it replaces the tariff's own.
	Timezone string `json:"timezone"`
}

// PricedCDR is the answer of POST /v1/pricing/cdr: the CDR with its total_*
// fields computed and its tariffs set to the one used, and the itemised
// result. TariffID and Version name the stored tariff version used.
type PricedCDR struct {
	TariffID string  `json:"tariff_id,omitempty"`
	Version  int     `json:"version,omitempty"`
	CDR      *CDR    `json:"cdr"`
	Result   *Result `json:"result"`
	// Warnings are what is wrong with the CDR without stopping its
	// pricing (CDR.Warnings), paths prefixed with "cdr.": the OCPI rules a
	// CDR read without strict breaks, and every disagreement of its volumes
	// with its timestamps and totals. Never null.
	Warnings []Problem `json:"warnings"`
}

func (h handlers) priceCDR(c *fiber.Ctx) error {
	var req CDRPricing
	if err := api.DecodeJSON(c, &req); err != nil {
		return err
	}
	strict, err := api.QueryBool(c, "strict")
	if err != nil {
		return err
	}
	if isAbsent(req.CDR) {
		return api.Validation("cdr", "is required: an OCPI 2.2.1 CDR object")
	}
	// A partner's CDR often lacks identity fields pricing does not need:
	// without strict they are warnings, not a refusal.
	read := ParseCDRLenient
	if strict {
		read = ParseCDR
	}
	cdr, err := read(req.CDR)
	if err != nil {
		return problemsError("cdr", err)
	}
	var out PricedCDR
	var t *Tariff
	switch {
	case !isAbsent(req.Tariff) && req.TariffID != "":
		return api.Validation("tariff_id", "send either tariff or tariff_id, not both")
	case !isAbsent(req.Tariff):
		if t, err = ParseTariff(req.Tariff); err != nil {
			return problemsError("tariff", err)
		}
	case req.TariffID != "":
		// The tariff valid when the session started prices all of it, and
		// an archived tariff still prices the sessions of its time.
		s, err := h.st.GetAt(c.UserContext(), tenant(c), req.TariffID, cdr.StartDateTime)
		if err != nil {
			return err
		}
		t, out.TariffID, out.Version = s.Tariff, s.PublicID, s.Version
	default:
		if t, err = cdr.OwnTariff(); err != nil {
			return problemsError("cdr", err)
		}
	}
	if err := setTimeZone(t, req.Timezone); err != nil {
		return err
	}
	priced, r, err := cdr.Reprice(t)
	if err != nil {
		return problemsError("cdr", err)
	}
	out.CDR, out.Result = priced, &r
	out.Warnings = cdr.Warnings(r)
	for i, w := range out.Warnings {
		out.Warnings[i].Path = joinPath("cdr", w.Path)
	}
	return api.OK(c, out)
}

func isAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// setTimeZone makes the tariff read its restrictions in zone, when one is
// given.
func setTimeZone(t *Tariff, zone string) error {
	if zone == "" {
		return nil
	}
	if _, err := time.LoadLocation(zone); err != nil || zone == "Local" {
		return api.Validation("timezone", "%q is not an IANA time zone", zone)
	}
	if err := t.SetTimeZone(zone); err != nil {
		return problemsError("tariff", err)
	}
	return nil
}

// QuoteRequest is the body of POST /v1/tariffs/{id}/quote: a hypothetical
// charging session, for showing a price before charging.
type QuoteRequest struct {
	// Start is when charging starts; nil means now. The tariff version
	// valid then prices the whole session.
	Start *time.Time `json:"start"`
	// Duration is the charging time, ISO 8601 ("PT1H30M") or Go ("90m",
	// "1h30m"); or DurationMinutes. Without either, it is energy_kwh ÷
	// max_power_kw.
	Duration        string      `json:"duration"`
	DurationMinutes json.Number `json:"duration_minutes"`
	// EnergyKWh is the energy charged, default 0.
	EnergyKWh json.Number `json:"energy_kwh"`
	// MaxPowerKW and MaxCurrentA are the session's charging power and
	// current, for power and current restrictions; absent, power is the
	// average (energy over time) and current restrictions do not hold.
	MaxPowerKW  json.Number `json:"max_power_kw"`
	MaxCurrentA json.Number `json:"max_current_a"`
	// ParkingMinutes is the time connected after charging, default 0.
	ParkingMinutes json.Number `json:"parking_minutes"`
	// Timezone, an IANA name, replaces the tariff's zone for reading its
	// restrictions.
	Timezone string `json:"timezone"`
}

// Quote is the itemised price of a hypothetical session.
type Quote struct {
	TariffID    string    `json:"tariff_id"`
	Version     int       `json:"version"`
	Start       time.Time `json:"start"`
	ChargingEnd time.Time `json:"charging_end"`
	End         time.Time `json:"end"`
	Result
}

func (h handlers) quote(c *fiber.Ctx) error {
	var req QuoteRequest
	if err := api.DecodeJSON(c, &req); err != nil {
		return err
	}
	s, err := req.Session(h.now())
	if err != nil {
		return err
	}
	st, err := h.st.GetAt(c.UserContext(), tenant(c), c.Params("id"), s.Start)
	if err != nil {
		return err
	}
	if st.ArchivedAt != nil {
		return api.Errorf(api.CodeConflict, "tariff %s is archived; it cannot be quoted", st.PublicID)
	}
	if err := setTimeZone(st.Tariff, req.Timezone); err != nil {
		return err
	}
	r, err := PriceSession(st.Tariff, s)
	if err != nil {
		return problemsError("", err)
	}
	chargingEnd := s.End
	if len(s.ChargingPeriods) > 1 {
		chargingEnd = s.ChargingPeriods[1].StartDateTime
	}
	return api.OK(c, Quote{TariffID: st.PublicID, Version: st.Version, Start: s.Start, ChargingEnd: chargingEnd, End: s.End, Result: r})
}

// Session builds the session a quote prices: one charging period from the
// start — TIME, ENERGY and, when given, MAX_POWER and MAX_CURRENT — and, with
// parking, a PARKING_TIME period after it. now is the start when none is
// given. Problems are VALIDATION_ERRORs naming the field.
func (q QuoteRequest) Session(now time.Time) (Session, error) {
	start := now
	if q.Start != nil {
		start = *q.Start
	}
	energy, err := nonNegative("energy_kwh", q.EnergyKWh)
	if err != nil {
		return Session{}, err
	}
	power, err := positive("max_power_kw", q.MaxPowerKW)
	if err != nil {
		return Session{}, err
	}
	current, err := positive("max_current_a", q.MaxCurrentA)
	if err != nil {
		return Session{}, err
	}
	parkingMin, err := nonNegative("parking_minutes", q.ParkingMinutes)
	if err != nil {
		return Session{}, err
	}
	charging, err := q.chargingTime(energy, power)
	if err != nil {
		return Session{}, err
	}
	parking := minutes(parkingMin.Decimal)
	if charging+parking > MaxSessionSpan {
		return Session{}, api.Validation("duration", "the session may last at most %s", MaxSessionSpan)
	}
	p := ChargingPeriod{StartDateTime: start, Dimensions: []CdrDimension{
		{Type: DimTime, Volume: hoursOf(charging)},
		{Type: DimEnergy, Volume: energy.Decimal},
	}}
	if power.Valid {
		p.Dimensions = append(p.Dimensions, CdrDimension{Type: DimMaxPower, Volume: power.Decimal})
	}
	if current.Valid {
		p.Dimensions = append(p.Dimensions, CdrDimension{Type: DimMaxCurrent, Volume: current.Decimal})
	}
	s := Session{Start: start, End: start.Add(charging + parking), ChargingPeriods: []ChargingPeriod{p}}
	if parking > 0 {
		s.ChargingPeriods = append(s.ChargingPeriods, ChargingPeriod{StartDateTime: start.Add(charging),
			Dimensions: []CdrDimension{{Type: DimParkingTime, Volume: hoursOf(parking)}}})
	}
	return s, nil
}

// chargingTime is the quote's charging time from duration,
// duration_minutes, or energy over power.
func (q QuoteRequest) chargingTime(energy, power decimal.NullDecimal) (time.Duration, error) {
	var d time.Duration
	switch {
	case q.Duration != "" && q.DurationMinutes != "":
		return 0, api.Validation("duration", "send either duration or duration_minutes, not both")
	case q.Duration != "":
		var err error
		if d, err = ParseDuration(q.Duration); err != nil {
			return 0, api.Validation("duration", "%v", err)
		}
	case q.DurationMinutes != "":
		m, err := positive("duration_minutes", q.DurationMinutes)
		if err != nil {
			return 0, err
		}
		d = minutes(m.Decimal)
	case energy.Decimal.IsPos() && power.Valid:
		h, err := energy.Decimal.Quo(power.Decimal)
		if err != nil {
			return 0, api.Validation("energy_kwh", "%v", err)
		}
		f, _ := h.Float64()
		d = time.Duration(math.Round(f*3600)) * time.Second
	default:
		return 0, api.Validation("duration", "is required (or duration_minutes, or energy_kwh with max_power_kw)")
	}
	if d <= 0 {
		return 0, api.Validation("duration", "must be positive")
	}
	return d, nil
}

func number(name string, n json.Number) (decimal.NullDecimal, error) {
	if n == "" {
		return decimal.NullDecimal{}, nil
	}
	d, err := decimal.Parse(string(n))
	if err != nil {
		return decimal.NullDecimal{}, api.Validation(name, "%s is not a decimal number", n)
	}
	return decimal.NullDecimal{Decimal: d, Valid: true}, nil
}

func nonNegative(name string, n json.Number) (decimal.NullDecimal, error) {
	d, err := number(name, n)
	if err == nil && d.Decimal.IsNeg() {
		err = api.Validation(name, "must not be negative")
	}
	return d, err
}

func positive(name string, n json.Number) (decimal.NullDecimal, error) {
	d, err := number(name, n)
	if err == nil && d.Valid && !d.Decimal.IsPos() {
		err = api.Validation(name, "must be positive")
	}
	return d, err
}

// minutes converts decimal minutes to a duration, to the millisecond.
func minutes(m decimal.Decimal) time.Duration {
	f, _ := m.Float64()
	return time.Duration(math.Round(f*60_000)) * time.Millisecond
}

// hoursOf is a duration in hours, as a CDR dimension volume.
func hoursOf(d time.Duration) decimal.Decimal {
	secs := decimal.MustNew(int64(d/time.Millisecond), 3)
	h, err := secs.Quo(decimal.MustNew(3600, 0))
	if err != nil {
		panic(err) // a duration bounded by MaxSessionSpan cannot overflow
	}
	return h
}

// ParseDuration reads a positive duration written in ISO 8601
// ("PT1H30M", "P1DT2H", "PT0.5H") or in Go's syntax ("90m", "1h30m").
// ISO 8601 years and months are refused: their length depends on the date.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if rest, ok := strings.CutPrefix(strings.ToUpper(s), "P"); ok {
		var err error
		if d, err = parseISODuration(rest); err != nil {
			return 0, fmt.Errorf("%q is not an ISO 8601 duration: %v", s, err)
		}
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a duration (ISO 8601 like PT1H30M, or like 90m)", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q is not positive", s)
	}
	return d, nil
}

// parseISODuration reads the part of an ISO 8601 duration after its "P":
// [nW][nD][T[nH][nM][nS]], each number possibly with a fraction.
func parseISODuration(rest string) (time.Duration, error) {
	if rest == "" {
		return 0, errors.New("no components")
	}
	units := map[bool]map[byte]time.Duration{
		false: {'W': 7 * 24 * time.Hour, 'D': 24 * time.Hour},
		true:  {'H': time.Hour, 'M': time.Minute, 'S': time.Second},
	}
	order := "WDHMS"
	inTime, last := false, -1
	var total float64
	for rest != "" {
		if rest[0] == 'T' {
			if inTime || len(rest) == 1 {
				return 0, errors.New("misplaced T")
			}
			inTime, rest = true, rest[1:]
			continue
		}
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != ',' })
		if i <= 0 {
			return 0, errors.New("a number must precede each unit")
		}
		n, err := strconv.ParseFloat(strings.ReplaceAll(rest[:i], ",", "."), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", rest[:i])
		}
		u := rest[i]
		unit, ok := units[inTime][u]
		pos := strings.IndexByte(order, u)
		switch {
		case u == 'Y' || (u == 'M' && !inTime):
			return 0, errors.New("years and months have no fixed length")
		case !ok:
			return 0, fmt.Errorf("unit %q is not valid here", u)
		case pos <= last:
			return 0, errors.New("units out of order or repeated")
		}
		last = pos
		total += n * float64(unit)
		rest = rest[i+1:]
	}
	if total > float64(math.MaxInt64) {
		return 0, errors.New("too long")
	}
	return time.Duration(math.Round(total)), nil
}

// problemsError turns a *ValidationError (or a tariff that does not apply)
// into a VALIDATION_ERROR listing every problem in details.problems, each
// path prefixed with where the document sat in the request.
func problemsError(prefix string, err error) error {
	var ve *ValidationError
	var ps []Problem
	switch {
	case errors.As(err, &ve):
		ps = make([]Problem, len(ve.Problems))
		for i, p := range ve.Problems {
			ps[i] = Problem{Path: joinPath(prefix, p.Path), Message: p.Message}
		}
	case errors.Is(err, ErrNotApplicable), errors.Is(err, ErrNoPrice):
		ps = []Problem{{Path: prefix, Message: err.Error()}}
	default:
		return err
	}
	msg := make([]string, 0, 3)
	for _, p := range ps[:min(len(ps), 3)] {
		msg = append(msg, p.String())
	}
	text := strings.Join(msg, "; ")
	if len(ps) > 3 {
		text += fmt.Sprintf("; and %d more (see details.problems)", len(ps)-3)
	}
	return &api.Error{Code: api.CodeValidation, Message: text, Details: map[string]any{"problems": ps}}
}

func joinPath(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	case strings.HasPrefix(path, "["):
		return prefix + path
	}
	return prefix + "." + path
}
