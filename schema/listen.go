package schema

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/recovery"
)

// Listen follows a PostgreSQL notification channel on a connection of its
// own, taken from pool and never returned to it, until ctx ends. It is how
// the caches of every replica hear of changes made elsewhere.
//
// listening runs each time LISTEN is in place: at first and after every
// reconnection. Notifications sent while the connection was lost are gone,
// so that is where a cache flushes itself. notify runs for each
// notification. A lost connection, or a panic in either function, is logged
// and listening starts again a second later.
func Listen(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, channel string, listening func(), notify func(payload string)) {
	for ctx.Err() == nil {
		err := recovery.Call(log, "listener", func() error { return listenOnce(ctx, pool, channel, listening, notify) }, "channel", channel)
		if ctx.Err() != nil {
			return
		}
		log.Warn("change listener lost its connection; retrying", "channel", channel, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func listenOnce(ctx context.Context, pool *pgxpool.Pool, channel string, listening func(), notify func(string)) error {
	pooled, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection stays in LISTEN state: it never goes back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		notify(n.Payload)
	}
}
