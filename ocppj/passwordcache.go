package ocppj

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/schema"
)

// DefaultPasswordCacheSize is the size of the verified-password cache when
// Config leaves it zero.
const DefaultPasswordCacheSize = 50_000

// PasswordChangesChannel is the PostgreSQL channel SetPassword notifies,
// with the box's cache owner (passwordOwner) as payload, in the statement
// that stores the password.
const PasswordChangesChannel = "gridmetrics_ocpp_password_changes"

// passwordOwner names a charge box in the verified-password cache and in
// PasswordChangesChannel's payloads.
func passwordOwner(tenantID int64, box string) string {
	return strconv.FormatInt(tenantID, 10) + "/" + box
}

// passwordKey is the cache key of a presented password: the tenant, the
// box, the stored hash it was checked against and the password. With the
// stored hash in it, an entry can only ever answer for the password that
// is stored now: a change the notification did not bring (a listener
// reconnecting) misses and takes the slow check.
func passwordKey(tenant, box, stored, pass string) [32]byte {
	h := sha256.New()
	for _, s := range []string{tenant, box, stored, pass} {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// ListenPasswordChanges follows PasswordChangesChannel until ctx ends,
// dropping from the cache the boxes whose password another process (a
// replica) changed. It returns at once when the cache is disabled. Once
// listening again after a lost connection the cache is flushed, since
// changes may have been missed in between.
func (s *Server) ListenPasswordChanges(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	if s.passwords == nil {
		return
	}
	schema.Listen(ctx, pool, log, PasswordChangesChannel, s.passwords.Flush, s.passwords.Forget)
}
