package sessions

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
)

// Page is one page of the billing pull.
type Page struct {
	Sessions []Summary
	// NextCursor continues the pull; when HasMore is false it is where the
	// next pull starts (keep it, and pull again later for what changed).
	NextCursor string
	HasMore    bool
}

// cursor is a position in a tenant's change order. It is opaque to callers
// (api.EncodeCursor).
type cursor struct {
	// After is the version (change_seq) of the last session served, or
	// the horizon of the pull that ended here.
	After int64 `json:"a"`
	// Horizon is the last version the current pull serves; 0 when the
	// cursor starts a new pull, which then takes the current horizon.
	Horizon int64 `json:"h,omitempty"`
	// Filter fingerprints the filters the cursor was made with: a cursor is
	// only valid with the same ones.
	Filter string `json:"f"`
}

func (f Filter) fingerprint() string {
	// The source by id once resolved: its public and external ids make
	// the same cursor.
	source := f.Source
	if f.sourceID != 0 {
		source = fmt.Sprint(f.sourceID)
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%d\x00%d", f.Status, source, f.SiteID,
		unixMicro(f.From), unixMicro(f.To), unixMicro(f.UpdatedSince))
	return fmt.Sprintf("%x", h.Sum64())
}

func unixMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// List serves one page of the billing pull: the sessions matching f, in
// the order they last changed — by (updated_at, id), which is their version
// order (see the package documentation).
//
// A pull is the pages from a cursor without a horizon (or none) until
// HasMore is false. Its first page fixes the horizon: the tenant's last
// committed change. Every session that matches f and last changed after
// the cursor's position and at or before the horizon is served exactly
// once in the pull; a session that changes during the pull moves past the
// horizon and is served by the next pull, which starts from NextCursor of
// the last page. So pull after pull, every change is served, none twice,
// and within one pull no session appears twice.
func (svc *Service) List(ctx context.Context, tenantID int64, f Filter, cursorText string, limit int) (Page, error) {
	if limit <= 0 || limit > api.MaxPageLimit {
		return Page{}, api.Validation("limit", "must be from 1 to %d", api.MaxPageLimit)
	}
	f, err := svc.store.withSource(ctx, tenantID, f)
	if err != nil {
		return Page{}, err
	}
	fp := f.fingerprint()
	var c cursor
	if cursorText != "" {
		if err := api.DecodeCursor(cursorText, &c); err != nil {
			return Page{}, err
		}
		if c.Filter != fp {
			return Page{}, api.Validation("cursor", "was made for other filters; pass the same filters as the pull that returned it")
		}
	}
	if c.Horizon == 0 {
		h, err := svc.store.horizon(ctx, tenantID)
		if err != nil {
			return Page{}, err
		}
		if h < c.After {
			h = c.After // nothing newer yet
		}
		c.Horizon = h
	}
	rows, err := svc.store.page(ctx, tenantID, f, c.After, c.Horizon, limit)
	if err != nil {
		return Page{}, err
	}
	out := Page{Sessions: make([]Summary, 0, min(len(rows), limit)), HasMore: len(rows) > limit}
	if out.HasMore {
		rows = rows[:limit]
	}
	for i := range rows {
		out.Sessions = append(out.Sessions, rows[i].Summary())
	}
	next := cursor{After: c.Horizon, Filter: fp}
	if out.HasMore {
		next = cursor{After: rows[len(rows)-1].Version, Horizon: c.Horizon, Filter: fp}
	}
	out.NextCursor = api.EncodeCursor(next)
	return out, nil
}
