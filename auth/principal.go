package auth

import "slices"

// Principal is the authenticated caller of a request.
type Principal struct {
	TenantID       int64
	TenantPublicID string
	// CredentialID names the credential: an API key's public id, or
	// "jwt:" and the token's subject. Rate limits are kept per credential.
	CredentialID string
	Scopes       []Scope
}

// Has reports whether the principal was granted scope.
func (p Principal) Has(scope Scope) bool { return slices.Contains(p.Scopes, scope) }
