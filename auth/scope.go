package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Scope is a permission granted to an API key or a JWT.
type Scope string

// The scopes a credential can carry.
const (
	ScopeIngest  Scope = "ingest"  // push readings
	ScopeRead    Scope = "read"    // query sources, readings and metrics
	ScopeBilling Scope = "billing" // pull priced sessions and costs
	ScopeAdmin   Scope = "admin"   // manage sources, tariffs and keys
)

// AllScopes lists every scope, in a stable order.
var AllScopes = []Scope{ScopeIngest, ScopeRead, ScopeBilling, ScopeAdmin}

// ParseScopes turns names such as "read,ingest" or "read ingest" into
// scopes, rejecting unknown names and removing repeats.
func ParseScopes(s string) ([]Scope, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
	return ScopesFromStrings(fields)
}

// ScopesFromStrings validates scope names and returns them without repeats,
// in the order of AllScopes.
func ScopesFromStrings(names []string) ([]Scope, error) {
	var out []Scope
	for _, n := range names {
		sc := Scope(strings.TrimSpace(n))
		if !slices.Contains(AllScopes, sc) {
			return nil, fmt.Errorf("unknown scope %q (want one of ingest, read, billing, admin)", n)
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	slices.SortFunc(out, func(a, b Scope) int {
		return slices.Index(AllScopes, a) - slices.Index(AllScopes, b)
	})
	return out, nil
}

// JoinScopes renders scopes as a comma-separated list.
func JoinScopes(scopes []Scope) string {
	s := make([]string, len(scopes))
	for i, sc := range scopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ",")
}
