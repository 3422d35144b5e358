// Package sources is the registry of things that produce readings — meters,
// chargers and their connectors, price feeds — and the metric catalogue.
package sources

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/gridmetrics/gridmetrics/api"
)

// Kind is what a source is.
type Kind string

// The kinds of source.
const (
	KindMeter     Kind = "meter"
	KindCharger   Kind = "charger"
	KindConnector Kind = "connector"
	KindPriceFeed Kind = "price_feed"
	KindInverter  Kind = "inverter"
	KindBattery   Kind = "battery"
)

// Kinds lists every kind.
var Kinds = []Kind{KindMeter, KindCharger, KindConnector, KindPriceFeed, KindInverter, KindBattery}

// Source is a registered producer of readings.
type Source struct {
	ID       int64  `json:"-"`
	PublicID string `json:"id"`
	TenantID int64  `json:"-"`
	// ExternalID is the caller's own name for it, unique per tenant, e.g.
	// "CB-0042/1" for connector 1 of charge box CB-0042.
	ExternalID string          `json:"external_id"`
	Kind       Kind            `json:"kind"`
	Name       string          `json:"name"`
	SiteID     *string         `json:"site_id"`
	Timezone   string          `json:"timezone"`
	ParentID   *int64          `json:"-"`
	Parent     *string         `json:"parent"` // the parent's public id
	Metadata   json.RawMessage `json:"metadata"`
	// Connector is null unless some attribute is known.
	Connector *Connector `json:"connector"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// NewSource is the body of a create request.
type NewSource struct {
	ExternalID string  `json:"external_id"`
	Kind       Kind    `json:"kind"`
	Name       string  `json:"name"`
	SiteID     *string `json:"site_id"`
	// Timezone is an IANA name; default "UTC".
	Timezone string `json:"timezone"`
	// Parent is the parent's public id or external id.
	Parent   *string         `json:"parent"`
	Metadata json.RawMessage `json:"metadata"`
	// Connector is for chargers and connectors only.
	Connector *Connector `json:"connector"`
}

// Patch is the body of an update: absent fields stay, null clears the
// nullable ones (site_id, parent).
type Patch struct {
	ExternalID *string          `json:"external_id"`
	Kind       *Kind            `json:"kind"`
	Name       *string          `json:"name"`
	SiteID     Nullable[string] `json:"site_id"`
	Timezone   *string          `json:"timezone"`
	Parent     Nullable[string] `json:"parent"`
	Metadata   json.RawMessage  `json:"metadata"`
	// Connector changes the attributes it names; null clears them all.
	Connector Nullable[ConnectorPatch] `json:"connector"`
}

// Nullable is a JSON field that distinguishes absent from null.
type Nullable[T any] = api.Nullable[T]

const (
	maxTextLen     = 200
	maxMetadataLen = 16 << 10
)

func (n *NewSource) validate() error {
	if n.Timezone == "" {
		n.Timezone = "UTC"
	}
	if len(n.Metadata) == 0 || string(n.Metadata) == "null" {
		n.Metadata = json.RawMessage("{}")
	}
	if n.Kind == "" {
		return api.Validation("kind", "is required (one of %s)", kindList())
	}
	return firstError(
		validateText("external_id", n.ExternalID, true),
		validateKind(n.Kind),
		validateText("name", n.Name, false),
		validateOptionalText("site_id", n.SiteID),
		validateTimezone(n.Timezone),
		validateMetadata(n.Metadata),
		n.Connector.validate(n.Kind),
	)
}

func (p *Patch) validate() error {
	errs := []error{validateMetadataIfSet(p.Metadata), validateOptionalText("site_id", p.SiteID.Value)}
	if p.ExternalID != nil {
		errs = append(errs, validateText("external_id", *p.ExternalID, true))
	}
	if p.Kind != nil {
		errs = append(errs, validateKind(*p.Kind))
	}
	if p.Name != nil {
		errs = append(errs, validateText("name", *p.Name, false))
	}
	if p.Timezone != nil {
		errs = append(errs, validateTimezone(*p.Timezone))
	}
	return firstError(errs...)
}

// rejectNulls refuses null for the fields of a patch that cannot be
// cleared.
func rejectNulls(body []byte) error {
	return api.RejectNulls(body, "external_id", "kind", "name", "timezone", "metadata")
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func validateText(field, s string, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return api.Validation(field, "is required")
	case len(s) > maxTextLen:
		return api.Validation(field, "is %d bytes long; at most %d are allowed", len(s), maxTextLen)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return api.Validation(field, "contains control characters")
	}
	return nil
}

func validateOptionalText(field string, s *string) error {
	if s == nil {
		return nil
	}
	return validateText(field, *s, true)
}

func validateKind(k Kind) error {
	if !slices.Contains(Kinds, k) {
		return api.Validation("kind", "%q is not a source kind (one of %s)", k, kindList())
	}
	return nil
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func validateTimezone(tz string) error {
	_, err := api.ParseZone("timezone", tz)
	return err
}

func validateMetadataIfSet(m json.RawMessage) error {
	if len(m) == 0 {
		return nil
	}
	return validateMetadata(m)
}

func validateMetadata(m json.RawMessage) error {
	if len(m) > maxMetadataLen {
		return api.Validation("metadata", "is %d bytes; at most %d are allowed", len(m), maxMetadataLen)
	}
	var obj map[string]any
	if err := json.Unmarshal(m, &obj); err != nil || obj == nil {
		return api.Validation("metadata", "must be a JSON object")
	}
	return nil
}

// String names the source for logs.
func (s Source) String() string { return fmt.Sprintf("%s (%s)", s.PublicID, s.ExternalID) }
