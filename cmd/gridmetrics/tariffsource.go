package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gridmetrics/gridmetrics/sessions"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// assignedTariffs finds a session's tariff among the tariff store's
// assignments: the charging tariff version assigned to the source at the
// instant, referred to as "tar_…@version". Versions are parsed once and
// kept in cache (a new version is a new key, so it is never stale), and a
// batch of sessions is answered in one lookup.
type assignedTariffs struct {
	st    *tariffs.Store
	cache *tariffs.Cache
}

// TariffAt answers one query.
func (a assignedTariffs) TariffAt(ctx context.Context, tenantID, sourceID int64, at time.Time) (*tariffs.Tariff, string, error) {
	out, err := a.TariffsAt(ctx, []sessions.TariffQuery{{TenantID: tenantID, SourceID: sourceID, At: at}})
	if err != nil {
		return nil, "", err
	}
	return out[0].Tariff, out[0].Ref, out[0].Err
}

// TariffsAt answers many queries in a statement or two.
func (a assignedTariffs) TariffsAt(ctx context.Context, qs []sessions.TariffQuery) ([]sessions.TariffAnswer, error) {
	ask := make([]tariffs.SourceAt, len(qs))
	for i, q := range qs {
		ask[i] = tariffs.SourceAt{TenantID: q.TenantID, SourceID: q.SourceID, At: q.At}
	}
	vs, err := a.st.AssignedAt(ctx, tariffs.KindCharging, ask, a.cache)
	if err != nil {
		return nil, err
	}
	out := make([]sessions.TariffAnswer, len(qs))
	for i, v := range vs {
		if v.Tariff == nil {
			out[i].Err = sessions.ErrNoTariff
			continue
		}
		out[i] = sessions.TariffAnswer{Tariff: v.Tariff, Ref: fmt.Sprintf("%s@%d", v.TariffID, v.Version)}
	}
	return out, nil
}
