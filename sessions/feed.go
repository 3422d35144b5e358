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
	c.Filter = fp
	if sb := svc.standby; sb != nil && sb.Usable() {
		p, ok := svc.listStandby(ctx, sb, tenantID, f, c, limit)
		sb.served(ctx, ok)
		if ok {
			return p, nil
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
	return svc.page(ctx, svc.store, tenantID, f, c, limit)
}

// listStandby serves the page at c from the standby when it has replayed
// every change the cursor was served from: its own last change (read there)
// is at or past both the cursor's position and its horizon. The standby
// replays commits in the primary's order, and within a tenant that order is
// version order (the advisory lock), so what it shows is a prefix of the
// tenant's changes, as on the primary: when its last change is at or past
// a version, every change up to that version is there. A cursor made on the
// primary, or on a standby further ahead, needs more than a lagging standby
// holds; served there, the page would skip the versions in between and end
// the pull as if there were none. ok is false when the primary must answer:
// the standby lags the cursor, or failed.
func (svc *Service) listStandby(ctx context.Context, sb *Standby, tenantID int64, f Filter, c cursor, limit int) (p Page, ok bool) {
	h, err := sb.Store.horizon(ctx, tenantID)
	if err != nil || h < max(c.After, c.Horizon) {
		return Page{}, false
	}
	if c.Horizon == 0 {
		c.Horizon = h
	}
	p, err = svc.page(ctx, sb.Store, tenantID, f, c, limit)
	return p, err == nil
}

// page serves the page of the pull at c, whose horizon is set, from st.
func (svc *Service) page(ctx context.Context, st *Store, tenantID int64, f Filter, c cursor, limit int) (Page, error) {
	rows, err := st.page(ctx, tenantID, f, c.After, c.Horizon, limit)
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
	next := cursor{After: c.Horizon, Filter: c.Filter}
	if out.HasMore {
		next = cursor{After: rows[len(rows)-1].Version, Horizon: c.Horizon, Filter: c.Filter}
	}
	out.NextCursor = api.EncodeCursor(next)
	return out, nil
}

// Standby is a streaming standby the billing pull and the export may read
// instead of the primary (package standby measures and routes).
type Standby struct {
	// Store reads the standby.
	Store *Store
	// Usable reports whether the standby may serve now: up, and behind the
	// primary by at most the allowed lag.
	Usable func() bool
	// Served, when set, is told which database served a request's read.
	Served func(ctx context.Context, standby bool)
}

func (sb *Standby) served(ctx context.Context, standby bool) {
	if sb.Served != nil {
		sb.Served(ctx, standby)
	}
}

// ReadFromStandby makes the billing pull and the export read sb while it
// is usable. Everything else (the lifecycle, the pricing worker, a single
// session's detail) stays on the primary.
func (svc *Service) ReadFromStandby(sb Standby) { svc.standby = &sb }
