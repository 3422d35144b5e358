package mqtt

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridmetrics/gridmetrics/api"
)

// Bounds of the dead-letter record.
const (
	// DefaultRejectionsKept is how many rejected messages a tenant's record
	// keeps; adding one past it deletes the oldest.
	DefaultRejectionsKept = 1000
	// PayloadHead is how many bytes of a rejected payload are kept.
	PayloadHead = 256
	// maxReason bounds the reason text kept.
	maxReason = 2000
)

// Rejection is a message the service acknowledged without storing all of
// it: its payload could not be decoded, or some of its rows were refused.
type Rejection struct {
	ID          int64     `json:"id"`
	Topic       string    `json:"topic"`
	ReceivedAt  time.Time `json:"received_at"`
	Reason      string    `json:"reason"`
	PayloadHead string    `json:"payload_head"` // the first PayloadHead bytes, as text (invalid UTF-8 replaced)
	PayloadSize int       `json:"payload_size"`
	Truncated   bool      `json:"payload_truncated"`
}

// Rejections is the per-tenant dead-letter record.
type Rejections struct {
	db   *pgxpool.Pool
	keep int
}

// NewRejections returns the record on db, keeping the newest keep messages
// per tenant (DefaultRejectionsKept when keep < 1).
func NewRejections(db *pgxpool.Pool, keep int) *Rejections {
	if keep < 1 {
		keep = DefaultRejectionsKept
	}
	return &Rejections{db: db, keep: keep}
}

// Add records a rejected message and deletes the tenant's entries past
// the newest keep, in one statement.
func (r *Rejections) Add(ctx context.Context, tenantID int64, topic string, received time.Time, reason string, payload []byte) error {
	head := payload[:min(len(payload), PayloadHead)]
	if len(reason) > maxReason {
		reason = reason[:maxReason] + "…"
	}
	_, err := r.db.Exec(ctx, `
		WITH added AS (
			INSERT INTO mqtt_rejections (tenant_id, topic, received_at, reason, payload_head, payload_size)
			VALUES ($1, $2, $3, $4, $5, $6)
		)
		DELETE FROM mqtt_rejections WHERE tenant_id = $1 AND id <= (
			SELECT id FROM mqtt_rejections WHERE tenant_id = $1 ORDER BY id DESC OFFSET $7 - 1 LIMIT 1)`,
		tenantID, validText(topic), received, validText(reason), head, len(payload), r.keep)
	if err != nil {
		return fmt.Errorf("record rejected MQTT message: %w", err)
	}
	return nil
}

// List returns a page of the tenant's rejected messages, newest first.
func (r *Rejections) List(ctx context.Context, tenantID int64, page api.PageRequest) ([]Rejection, int64, error) {
	rows, err := r.db.Query(ctx, `
		SELECT id, topic, received_at, reason, payload_head, payload_size, count(*) OVER ()
		FROM mqtt_rejections WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3`,
		tenantID, page.Limit, page.Offset())
	if err != nil {
		return nil, 0, err
	}
	var total int64
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Rejection, error) {
		var j Rejection
		var head []byte
		err := row.Scan(&j.ID, &j.Topic, &j.ReceivedAt, &j.Reason, &head, &j.PayloadSize, &total)
		j.PayloadHead = validText(string(head))
		j.Truncated = j.PayloadSize > len(head)
		return j, err
	})
	if err != nil {
		return nil, 0, err
	}
	if len(list) == 0 && page.Offset() > 0 {
		err = r.db.QueryRow(ctx, `SELECT count(*) FROM mqtt_rejections WHERE tenant_id = $1`, tenantID).Scan(&total)
	}
	return list, total, err
}
