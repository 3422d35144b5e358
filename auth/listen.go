package auth

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/schema"
)

// Listen follows KeyChangesChannel until ctx ends, dropping from the cache
// the keys that other processes (replicas, the apikey command) revoke. It
// returns at once when the cache is disabled.
//
// While the connection is lost the cache is kept, so that cached keys keep
// working through a database outage; once listening again it is flushed,
// since revocations may have been missed in between.
func (a *Authenticator) Listen(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	if a.keys == nil {
		return
	}
	schema.Listen(ctx, pool, log, KeyChangesChannel, a.keys.flush, a.keys.forget)
}
