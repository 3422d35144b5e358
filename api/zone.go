package api

import (
	"strings"
	"time"
)

// ParseZone loads an IANA time zone named in field. It accepts IANA names
// only: "Local" depends on the server and abbreviations like "CET" are
// ambiguous.
func ParseZone(field, name string) (*time.Location, error) {
	if name == "" || name == "Local" || !strings.Contains(name, "/") && name != "UTC" {
		return nil, Validation(field, "%q is not an IANA time zone such as Europe/Berlin or UTC", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, Validation(field, "%q is not an IANA time zone such as Europe/Berlin or UTC", name)
	}
	return loc, nil
}
