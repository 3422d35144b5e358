package tariffs

import (
	"context"
	"fmt"
	"time"

	"github.com/gridmetrics/gridmetrics/api"
)

// SourceAt asks which tariff version of a kind is assigned to a source
// (internal id, of the tenant) at an instant.
type SourceAt struct {
	TenantID, SourceID int64
	At                 time.Time
}

// VersionAt answers a SourceAt: the assigned tariff (tar_…), the version in
// effect and its document. Tariff is nil when no version is in effect.
type VersionAt struct {
	TariffID string
	Version  int
	Tariff   *Tariff
}

// AssignedAt answers many SourceAt questions at once, in at most two
// statements: one finds each source's assignment and the version in
// effect at its instant, the other reads the documents of the versions
// cache does not hold (and caches them). The answer at each instant is
// the one AssignedTariffs gives over [at, at+1µs): the highest-numbered
// version whose valid_from ≤ at, unless that version's end_date_time is
// not after at. Pricing a batch of sessions calls it with one question
// per session.
func (st *Store) AssignedAt(ctx context.Context, kind Kind, qs []SourceAt, cache *Cache) ([]VersionAt, error) {
	switch kind {
	case KindCharging, KindSupply, KindExport:
	default:
		return nil, api.Validation("kind", "%q is not a tariff kind (charging, supply, export)", kind)
	}
	out := make([]VersionAt, len(qs))
	if len(qs) == 0 {
		return out, nil
	}
	tenants, srcs, ats := make([]int64, len(qs)), make([]int64, len(qs)), make([]time.Time, len(qs))
	for i, q := range qs {
		tenants[i], srcs[i], ats[i] = q.TenantID, q.SourceID, q.At
	}
	rows, err := st.db.Query(ctx, `SELECT q.i, t.id, t.public_id, v.version
		FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) WITH ORDINALITY AS q(tenant_id, source_id, at, i)
		JOIN tariff_assignments a ON a.tenant_id = q.tenant_id AND a.source_id = q.source_id AND a.kind = $4
			AND a.valid_from <= q.at AND (a.valid_to IS NULL OR a.valid_to > q.at)
		JOIN tariffs t ON t.id = a.tariff_id
		CROSS JOIN LATERAL (SELECT version FROM tariff_versions v
			WHERE v.tariff_id = a.tariff_id AND v.valid_from <= q.at ORDER BY version DESC LIMIT 1) v`,
		tenants, srcs, ats, string(kind))
	if err != nil {
		return nil, fmt.Errorf("read tariff assignments: %w", err)
	}
	keys := make([]VersionKey, len(qs))
	for rows.Next() {
		var i int64
		var k VersionKey
		var publicID string
		var version int32
		if err := rows.Scan(&i, &k.TariffID, &publicID, &version); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read tariff assignments: %w", err)
		}
		k.Version = int(version)
		keys[i-1] = k
		out[i-1] = VersionAt{TariffID: publicID, Version: k.Version}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tariff assignments: %w", err)
	}

	var missing []VersionKey
	for i, k := range keys {
		if k.TariffID == 0 {
			continue
		}
		if t, ok := cache.get(k); ok {
			out[i].Tariff = t
		} else {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		loaded, err := st.loadVersions(ctx, missing, cache)
		if err != nil {
			return nil, err
		}
		for i, k := range keys {
			if k.TariffID != 0 && out[i].Tariff == nil {
				out[i].Tariff = loaded[k]
			}
		}
	}
	for i := range out {
		t := out[i].Tariff
		if t == nil {
			out[i] = VersionAt{}
			continue
		}
		// A version is not valid after its end_date_time.
		if end := t.EndDateTime; !end.IsZero() && !end.After(qs[i].At) {
			out[i] = VersionAt{}
		}
	}
	return out, nil
}

// loadVersions reads and parses the documents of versions in one
// statement, and caches them.
func (st *Store) loadVersions(ctx context.Context, keys []VersionKey, cache *Cache) (map[VersionKey]*Tariff, error) {
	ids, versions := make([]int64, len(keys)), make([]int32, len(keys))
	for i, k := range keys {
		ids[i], versions[i] = k.TariffID, int32(k.Version)
	}
	rows, err := st.db.Query(ctx, `SELECT t.id, t.public_id, v.version, v.document::text
		FROM (SELECT DISTINCT * FROM unnest($1::bigint[], $2::int[])) AS k(id, version)
		JOIN tariff_versions v ON v.tariff_id = k.id AND v.version = k.version
		JOIN tariffs t ON t.id = k.id`, ids, versions)
	if err != nil {
		return nil, fmt.Errorf("read tariff versions: %w", err)
	}
	defer rows.Close()
	out := make(map[VersionKey]*Tariff, len(keys))
	for rows.Next() {
		var k VersionKey
		var publicID, doc string
		var version int32
		if err := rows.Scan(&k.TariffID, &publicID, &version, &doc); err != nil {
			return nil, fmt.Errorf("read tariff versions: %w", err)
		}
		k.Version = int(version)
		t, err := parseStored(publicID, k.Version, doc)
		if err != nil {
			return nil, err
		}
		cache.put(k, t)
		out[k] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tariff versions: %w", err)
	}
	return out, nil
}
