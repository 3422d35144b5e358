// Package idtags holds a tenant's OCPP id-tag policy and answers what a
// charger asks about an id tag: Authorize, and the idTagInfo (OCPP 1.6) or
// idTokenInfo (OCPP 2.0.1) of the transaction messages. The OCPP-J
// endpoint and the HTTP OCPP routes both ask Service.Check, so a tag gets
// the same answer whichever way the charger talks.
package idtags

import (
	"strings"
	"time"
)

// Mode is a tenant's id-tag policy.
type Mode string

const (
	// AcceptAll accepts every id tag: the default.
	AcceptAll Mode = "accept_all"
	// List accepts only the tenant's listed tags that are neither blocked
	// nor expired.
	List Mode = "list"
)

// TagStatus is what a listed tag is set to.
type TagStatus string

const (
	TagAccepted TagStatus = "accepted"
	TagBlocked  TagStatus = "blocked"
)

// MaxTagLength is the longest id tag: OCPP 2.0.1's idToken (identifierString
// of 36); OCPP 1.6's IdToken is a CiString20, which fits.
const MaxTagLength = 36

// Tag is a listed id tag.
type Tag struct {
	Tag       string     `json:"tag"`
	Status    TagStatus  `json:"status"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Note      string     `json:"note,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Status is the decision about an id tag, before it is spelled in an OCPP
// edition's enum.
type Status int

const (
	Accepted Status = iota
	Blocked
	Expired
	// Unknown: the tenant keeps a list and the tag is not on it.
	Unknown
)

// Decision is the answer about one id tag.
type Decision struct {
	Status Status
	// ExpiresAt is the listed tag's expiry, nil when it has none or is
	// not listed.
	ExpiresAt *time.Time
}

// Key is the form tags are compared in: OCPP's CiString is compared
// case-insensitively.
func Key(tag string) string { return strings.ToUpper(tag) }

// Decide applies mode to a tag: listed is the tag's entry, nil when the
// tag is not on the list. In accept_all mode the list is not consulted.
func Decide(mode Mode, listed *Tag, now time.Time) Decision {
	if mode != List {
		return Decision{Status: Accepted}
	}
	if listed == nil {
		return Decision{Status: Unknown}
	}
	d := Decision{Status: Accepted, ExpiresAt: listed.ExpiresAt}
	switch {
	case listed.Status == TagBlocked:
		d.Status = Blocked
	case listed.ExpiresAt != nil && !now.Before(*listed.ExpiresAt):
		d.Status = Expired
	}
	return d
}

// OCPP16 is the idTagInfo of an OCPP 1.6 answer: the status (Accepted,
// Blocked, Expired, Invalid — an unlisted tag is Invalid, 1.6 having no
// Unknown) and the tag's expiryDate when it has one.
func (d Decision) OCPP16() map[string]any {
	info := map[string]any{"status": [...]string{"Accepted", "Blocked", "Expired", "Invalid"}[d.Status]}
	if d.ExpiresAt != nil {
		info["expiryDate"] = d.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return info
}

// OCPP201 is the idTokenInfo of an OCPP 2.0.1 answer. An unlisted token is
// Unknown, the 2.0.1 status for an identifier the CSMS does not know.
func (d Decision) OCPP201() map[string]any {
	return map[string]any{"status": [...]string{"Accepted", "Blocked", "Expired", "Unknown"}[d.Status]}
}
