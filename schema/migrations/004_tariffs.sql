-- Tariffs, their versions and their assignments to sources.
--
-- A tariff is tenant-scoped and named by its public id (tar_…); the OCPI
-- identity the caller gave (country_code, party_id, id) is kept beside it
-- and is unique among a tenant's tariffs that are not archived. Every change
-- is a new row of tariff_versions holding the whole OCPI document (the
-- canonical JSON written by tariffs.Tariff.MarshalJSON); older versions stay.
-- The version that prices usage at time t is the highest-numbered one whose
-- valid_from ≤ t.

CREATE TABLE tariffs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id    text NOT NULL UNIQUE,
    tenant_id    bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    country_code text NOT NULL,
    party_id     text NOT NULL,
    external_id  text NOT NULL, -- the OCPI tariff id
    kind         text NOT NULL CHECK (kind IN ('charging', 'supply', 'export')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- Archived tariffs stay readable but can no longer be changed, assigned
    -- or quoted.
    archived_at  timestamptz
);
CREATE UNIQUE INDEX tariffs_ocpi_identity ON tariffs (tenant_id, country_code, party_id, external_id)
    WHERE archived_at IS NULL;
CREATE INDEX tariffs_tenant_created ON tariffs (tenant_id, created_at);

CREATE TABLE tariff_versions (
    tariff_id  bigint NOT NULL REFERENCES tariffs (id) ON DELETE CASCADE,
    version    integer NOT NULL CHECK (version > 0),
    document   jsonb NOT NULL,
    -- The tariff's start_date_time when it has one, else when the version
    -- was created.
    valid_from timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tariff_id, version)
);

-- A source priced by a tariff over [valid_from, valid_to); valid_to NULL is
-- open-ended. kind is the tariff's kind: a source has at most one charging,
-- one supply and one export tariff at any instant.
--
-- The exclusion constraints keep a source's assignments of one kind from
-- overlapping. "source_id WITH =" would need the btree_gist extension, which
-- the TimescaleDB test harness (PGlite) does not load; a one-element range
-- int8range(source_id, source_id, '[]') compares the same way with GiST's
-- built-in range operator class, and one partial constraint per kind stands
-- in for "kind WITH =". So the database itself refuses an overlap, on every
-- backend, with SQLSTATE 23P01.
CREATE TABLE tariff_assignments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id  text NOT NULL UNIQUE,
    tenant_id  bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    source_id  bigint NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    tariff_id  bigint NOT NULL REFERENCES tariffs (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('charging', 'supply', 'export')),
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz CHECK (valid_to > valid_from),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tariff_assignments_no_overlap_charging EXCLUDE USING gist (
        int8range(source_id, source_id, '[]') WITH &&, tstzrange(valid_from, valid_to) WITH &&)
        WHERE (kind = 'charging'),
    CONSTRAINT tariff_assignments_no_overlap_supply EXCLUDE USING gist (
        int8range(source_id, source_id, '[]') WITH &&, tstzrange(valid_from, valid_to) WITH &&)
        WHERE (kind = 'supply'),
    CONSTRAINT tariff_assignments_no_overlap_export EXCLUDE USING gist (
        int8range(source_id, source_id, '[]') WITH &&, tstzrange(valid_from, valid_to) WITH &&)
        WHERE (kind = 'export')
);
CREATE INDEX tariff_assignments_source ON tariff_assignments (source_id, kind, valid_from);
CREATE INDEX tariff_assignments_tariff ON tariff_assignments (tariff_id, valid_from);
