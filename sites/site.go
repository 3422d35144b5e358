// Package sites keeps the places sources stand at: an address, coordinates,
// a time zone and an operator, what an OCPI Location (and so a CDR's
// cdr_location) needs to describe where a session happened.
package sites

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gridmetrics/gridmetrics/api"
)

// Site is a place of a tenant's. Its ID is the tenant's own name for it,
// the site_id its sources carry. Fields the tenant has not set are null.
type Site struct {
	TenantID   int64   `json:"-"`
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Address    *string `json:"address"`
	City       *string `json:"city"`
	PostalCode *string `json:"postal_code"`
	State      *string `json:"state"`
	// Country is an ISO 3166-1 alpha-3 code, e.g. "DEU".
	Country     *string      `json:"country"`
	Coordinates *Coordinates `json:"coordinates"`
	// TimeZone is an IANA name, "UTC" unless set.
	TimeZone string    `json:"time_zone"`
	Operator *Operator `json:"operator"`
	// OCPILocationID is the OCPI Location.id a CDR names for the site.
	OCPILocationID *string   `json:"ocpi_location_id"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Coordinates are an OCPI GeoLocation: decimal degrees as strings, with 5
// to 7 decimals, e.g. "52.520008".
type Coordinates struct {
	Latitude  string `json:"latitude"`
	Longitude string `json:"longitude"`
}

// Operator is who operates the site, as OCPI's BusinessDetails.
type Operator struct {
	Name    string  `json:"name"`
	Website *string `json:"website"`
}

// NewSite is the body of a create request.
type NewSite struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Address     *string      `json:"address"`
	City        *string      `json:"city"`
	PostalCode  *string      `json:"postal_code"`
	State       *string      `json:"state"`
	Country     *string      `json:"country"`
	Coordinates *Coordinates `json:"coordinates"`
	// TimeZone is an IANA name; default "UTC".
	TimeZone       string    `json:"time_zone"`
	Operator       *Operator `json:"operator"`
	OCPILocationID *string   `json:"ocpi_location_id"`
}

// Patch is the body of an update: absent fields stay, null clears the
// nullable ones. A new ID renames the site, and its sources follow.
type Patch struct {
	ID             *string                   `json:"id"`
	Name           *string                   `json:"name"`
	Address        api.Nullable[string]      `json:"address"`
	City           api.Nullable[string]      `json:"city"`
	PostalCode     api.Nullable[string]      `json:"postal_code"`
	State          api.Nullable[string]      `json:"state"`
	Country        api.Nullable[string]      `json:"country"`
	Coordinates    api.Nullable[Coordinates] `json:"coordinates"`
	TimeZone       *string                   `json:"time_zone"`
	Operator       api.Nullable[Operator]    `json:"operator"`
	OCPILocationID api.Nullable[string]      `json:"ocpi_location_id"`
}

// notNullable are the fields of a patch that cannot be cleared.
var notNullable = []string{"id", "name", "time_zone"}

// Limits of the fields, in characters: OCPI 2.2.1's lengths of the
// Location fields they become, so a CDR built from a site fits. An id is
// what a source's site_id may be: up to 200 bytes.
const (
	maxIDBytes        = 200
	maxName           = 255
	maxAddress        = 45
	maxCity           = 45
	maxPostalCode     = 10
	maxState          = 20
	maxOperatorName   = 100
	maxWebsite        = 255
	maxOCPILocationID = 36
)

// OCPI's GeoLocation patterns, which a CDR's coordinates must match too.
var (
	LatitudePattern  = regexp.MustCompile(`^-?[0-9]{1,2}\.[0-9]{5,7}$`)
	LongitudePattern = regexp.MustCompile(`^-?[0-9]{1,3}\.[0-9]{5,7}$`)
)

func (n *NewSite) validate() error {
	if n.TimeZone == "" {
		n.TimeZone = "UTC"
	}
	return firstError(
		validateID(n.ID),
		validateText("name", n.Name, maxName, false),
		validateOptional("address", n.Address, maxAddress),
		validateOptional("city", n.City, maxCity),
		validateOptional("postal_code", n.PostalCode, maxPostalCode),
		validateOptional("state", n.State, maxState),
		validateCountry(n.Country),
		validateCoordinates(n.Coordinates),
		validateZone(n.TimeZone),
		validateOperator(n.Operator),
		validateOCPILocationID(n.OCPILocationID),
	)
}

func (p *Patch) validate() error {
	errs := []error{
		validateOptional("address", p.Address.Value, maxAddress),
		validateOptional("city", p.City.Value, maxCity),
		validateOptional("postal_code", p.PostalCode.Value, maxPostalCode),
		validateOptional("state", p.State.Value, maxState),
		validateCountry(p.Country.Value),
		validateCoordinates(p.Coordinates.Value),
		validateOperator(p.Operator.Value),
		validateOCPILocationID(p.OCPILocationID.Value),
	}
	if p.ID != nil {
		errs = append(errs, validateID(*p.ID))
	}
	if p.Name != nil {
		errs = append(errs, validateText("name", *p.Name, maxName, false))
	}
	if p.TimeZone != nil {
		errs = append(errs, validateZone(*p.TimeZone))
	}
	return firstError(errs...)
}

// apply writes the patch's fields onto s.
func (p *Patch) apply(s *Site) {
	if p.ID != nil {
		s.ID = *p.ID
	}
	if p.Name != nil {
		s.Name = *p.Name
	}
	if p.TimeZone != nil {
		s.TimeZone = *p.TimeZone
	}
	p.Address.Apply(&s.Address)
	p.City.Apply(&s.City)
	p.PostalCode.Apply(&s.PostalCode)
	p.State.Apply(&s.State)
	p.Country.Apply(&s.Country)
	p.Coordinates.Apply(&s.Coordinates)
	p.Operator.Apply(&s.Operator)
	p.OCPILocationID.Apply(&s.OCPILocationID)
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// validateID holds a site's id to the rules of a source's site_id, which
// it is: present, at most 200 bytes, no control characters.
func validateID(id string) error {
	switch {
	case strings.TrimSpace(id) == "":
		return api.Validation("id", "is required")
	case len(id) > maxIDBytes:
		return api.Validation("id", "is %d bytes long; at most %d are allowed", len(id), maxIDBytes)
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return api.Validation("id", "contains control characters")
	}
	return nil
}

// validateText holds s to OCPI's string(max): at most max characters, all
// printable. A required field must not be blank.
func validateText(field, s string, max int, required bool) error {
	switch n := utf8.RuneCountInString(s); {
	case required && strings.TrimSpace(s) == "":
		return api.Validation(field, "must not be empty; leave it out or send null when unknown")
	case n > max:
		return api.Validation(field, "is %d characters long; at most %d are allowed", n, max)
	case !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return api.Validation(field, "contains characters that are not printable")
	}
	return nil
}

// validateOptional checks a nullable text field: null is fine, a value
// must not be empty (a CDR would carry an empty string).
func validateOptional(field string, s *string, max int) error {
	if s == nil {
		return nil
	}
	return validateText(field, *s, max, true)
}

func validateCountry(c *string) error {
	if c == nil {
		return nil
	}
	if !isCountry(*c) {
		return api.Validation("country", "%q is not an ISO 3166-1 alpha-3 country code such as DEU", truncate(*c))
	}
	return nil
}

func validateCoordinates(c *Coordinates) error {
	if c == nil {
		return nil
	}
	if err := validateDegrees("coordinates.latitude", c.Latitude, LatitudePattern, 90, "-?[0-9]{1,2}.[0-9]{5,7}, e.g. 52.520008"); err != nil {
		return err
	}
	return validateDegrees("coordinates.longitude", c.Longitude, LongitudePattern, 180, "-?[0-9]{1,3}.[0-9]{5,7}, e.g. 13.404954")
}

func validateDegrees(field, s string, pattern *regexp.Regexp, limit float64, form string) error {
	if !pattern.MatchString(s) {
		return api.Validation(field, "%q is not in OCPI's form %s", truncate(s), form)
	}
	if v, err := strconv.ParseFloat(s, 64); err != nil || v < -limit || v > limit {
		return api.Validation(field, "%s is beyond ±%g degrees", s, limit)
	}
	return nil
}

func validateZone(tz string) error {
	_, err := api.ParseZone("time_zone", tz)
	return err
}

func validateOperator(o *Operator) error {
	if o == nil {
		return nil
	}
	if err := validateText("operator.name", o.Name, maxOperatorName, true); err != nil {
		return err
	}
	if o.Website == nil {
		return nil
	}
	w := *o.Website
	if len(w) > maxWebsite {
		return api.Validation("operator.website", "is %d characters long; at most %d are allowed", len(w), maxWebsite)
	}
	u, err := url.Parse(w)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(w, " \t\r\n") {
		return api.Validation("operator.website", "%q is not an http or https URL", truncate(w))
	}
	return nil
}

// validateOCPILocationID holds the id to OCPI's CiString(36): printable
// ASCII.
func validateOCPILocationID(id *string) error {
	if id == nil {
		return nil
	}
	s := *id
	if s == "" || len(s) > maxOCPILocationID || strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
		return api.Validation("ocpi_location_id", "must be 1 to %d printable ASCII characters", maxOCPILocationID)
	}
	return nil
}

// truncate shortens a hostile value before an error message quotes it.
func truncate(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s…", strings.ToValidUTF8(s[:max], ""))
}
