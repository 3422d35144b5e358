-- Rollup tiers: per series and UTC bucket, the mergeable summary that
-- rollups.Summary describes. Each bucket's row depends only on the samples
-- inside the bucket; the stretches between buckets are derived at merge
-- time from neighbouring rows' first and last samples.

CREATE TABLE rollup_15m (
    bucket      timestamptz NOT NULL,
    source_id   bigint NOT NULL,
    metric      smallint NOT NULL,
    n           bigint NOT NULL,
    sum         double precision NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    first_time  timestamptz NOT NULL,
    first_value double precision NOT NULL,
    last_time   timestamptz NOT NULL,
    last_value  double precision NOT NULL,
    integral    double precision NOT NULL,
    increase    double precision NOT NULL,
    resets      bigint NOT NULL,
    max_gap     bigint NOT NULL, -- longest time between samples, µs
    PRIMARY KEY (source_id, metric, bucket)
);
CREATE TABLE rollup_1h (LIKE rollup_15m INCLUDING ALL);
CREATE TABLE rollup_1d (LIKE rollup_15m INCLUDING ALL);
CREATE INDEX rollup_15m_bucket ON rollup_15m (bucket);
CREATE INDEX rollup_1h_bucket ON rollup_1h (bucket);
CREATE INDEX rollup_1d_bucket ON rollup_1d (bucket);

-- Refreshing a tier reads raw readings by time: a BRIN index finds a time
-- range for next to nothing on the ingest path.
CREATE INDEX readings_time_brin ON readings USING brin (time);

-- Per tier: every bucket before the watermark is computed.
CREATE TABLE rollup_watermarks (
    tier            text PRIMARY KEY,
    watermark       timestamptz NOT NULL,
    last_run_at     timestamptz,
    last_duration_s double precision,
    last_error      text
);

-- Progress of `gridmetrics rollup backfill`, so an interrupted run resumes.
CREATE TABLE rollup_backfills (
    range_from timestamptz NOT NULL,
    range_to   timestamptz NOT NULL,
    tier       text NOT NULL,
    done_until timestamptz NOT NULL,
    PRIMARY KEY (range_from, range_to, tier)
);
