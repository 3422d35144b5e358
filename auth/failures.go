package auth

import "time"

// AddressBlocked reports whether a client address has made too many failed
// authentications in the window, and how long until it may try again; it
// lets an endpoint with credentials of its own (OCPP-J's charge box
// passwords) share the API's limit. Always false when the limit is off.
func (a *Authenticator) AddressBlocked(addr string) (bool, time.Duration) {
	if a.failures == nil {
		return false, 0
	}
	return a.failures.blocked(addr, time.Now())
}

// AuthFailed counts a refused authentication from a client address.
func (a *Authenticator) AuthFailed(addr string) {
	if a.failures != nil {
		a.failures.fail(addr, time.Now())
	}
}
