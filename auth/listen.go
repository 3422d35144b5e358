package auth

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/recovery"
)

// Listen follows KeyChangesChannel on a connection of its own, taken from
// pool and never returned to it, until ctx ends, dropping from the cache the keys that other processes (replicas, the
// apikey command) revoke. It returns at once when the cache is disabled.
//
// While the connection is lost the cache is kept, so that cached keys keep
// working through a database outage; once listening again it is flushed,
// since revocations may have been missed in between.
func (a *Authenticator) Listen(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	if a.keys == nil {
		return
	}
	for ctx.Err() == nil {
		// A panic is logged and counted, and listening starts again: a
		// listener that stopped would leave revocations to the TTL.
		err := recovery.Call(log, "api_key_listener", func() error { return a.listenOnce(ctx, pool) })
		if ctx.Err() != nil {
			return
		}
		log.Warn("API key revocation listener lost its connection; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (a *Authenticator) listenOnce(ctx context.Context, pool *pgxpool.Pool) error {
	pooled, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection stays in LISTEN state: it never goes back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{KeyChangesChannel}.Sanitize()); err != nil {
		return err
	}
	a.keys.flush()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		a.keys.forget(n.Payload)
	}
}
