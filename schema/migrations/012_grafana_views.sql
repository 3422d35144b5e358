-- Read-only views for Grafana's PostgreSQL data source (deploy/grafana).
-- Each has a timestamptz column named time, as that data source expects,
-- and carries the tenant's public id and the site and source names, so a
-- dashboard variable can filter per tenant. The views run with their
-- owner's rights: a Grafana role needs SELECT on these views only (README,
-- "Grafana"). They hold no tenant isolation of their own: whoever reads
-- them reads every tenant.
--
-- Days are UTC days, the buckets of rollup_1d. Nothing below depends on the
-- session's TimeZone: day edges come from AT TIME ZONE 'UTC' and steps of
-- 24 hours, never of '1 day'.

-- Every source of every tenant, for the dashboard's variables.
CREATE VIEW grafana_sources AS
SELECT t.public_id AS tenant, t.name AS tenant_name, s.public_id AS source,
       s.external_id, s.name, s.kind, s.site_id AS site, p.public_id AS parent
FROM sources s
JOIN tenants t ON t.id = s.tenant_id
LEFT JOIN sources p ON p.id = s.parent_id;

-- Energy per UTC day and site: what GET /v1/sites/{site}/energy answers
-- with bucket=1d and tz=UTC for a range of whole days, before rendering
-- rounds it. It follows query.Service.SiteEnergy step by step:
--
--   - the members are the site's sources, price feeds excepted, whose
--     parent is not itself in the site (a charger counts, its connectors
--     do not);
--   - a member measures a direction by its register (energy_import or
--     energy_export: the counter's increase) when it has one (a reading or
--     a daily rollup of it), else by the time integral of its power gauge
--     (power_import or power_export);
--   - each series is read as query.Plan reads whole UTC days: daily rollups
--     before the 1d tier's limit, then hourly, then 15-minute rollups, then
--     raw readings; a tier's limit is its watermark, or the series' earliest
--     late reading waiting in rollup_invalidations when that comes first;
--   - the stretch between consecutive samples is linear and split at the
--     day edges, the same float operations in the same order as
--     query.Engine, so a day's value is the register interpolated at its
--     end minus that at its start, counter restarts included;
--   - members add in the order of their public ids.
--
-- This is the second home of those rules: deploy/grafana's test compares
-- the view with query.Service.SiteEnergy bit for bit, so a change to one
-- that the other does not follow fails there.
--
-- A direction no member measures is null; a day no member has data around
-- has no row. A filter on tenant or site reaches the series before any
-- work is done; a filter on time does not (the stretches need each
-- series' neighbouring days), so a query reads the whole history of the
-- sites it asks for: one row per day and series from rollup_1d.
CREATE VIEW grafana_site_energy_daily AS
WITH directions (direction, counter, power) AS (
    VALUES ('import', 'energy_import', 'power_import'),
           ('export', 'energy_export', 'power_export')
),
members AS (
    SELECT s.id, s.public_id, t.public_id AS tenant, s.site_id
    FROM sources s
    JOIN tenants t ON t.id = s.tenant_id
    WHERE s.site_id IS NOT NULL AND s.kind <> 'price_feed'
      AND NOT EXISTS (SELECT 1 FROM sources p
                      WHERE p.id = s.parent_id AND p.site_id = s.site_id AND p.tenant_id = s.tenant_id)
),
-- The series each member measures each direction by, if any.
series AS NOT MATERIALIZED (
    SELECT m.*, d.direction, pick.metric, pick.method
    FROM members m
    CROSS JOIN directions d
    CROSS JOIN LATERAL (
        SELECT x.id AS metric, x.method
        FROM (SELECT mc.id, 'counter' AS method, 1 AS rank FROM metrics mc WHERE mc.name = d.counter
              UNION ALL
              SELECT mp.id, 'power', 2 FROM metrics mp WHERE mp.name = d.power) x
        WHERE EXISTS (SELECT 1 FROM readings r WHERE r.source_id = m.id AND r.metric = x.id)
           OR EXISTS (SELECT 1 FROM rollup_1d r WHERE r.source_id = m.id AND r.metric = x.id)
        ORDER BY x.rank
        LIMIT 1
    ) pick
),
-- Per series, where each tier stops being read (b1: 1d, b2: 1h, b3: 15m);
-- raw readings from b3 on. A tier without a watermark is not read.
limits AS (
    SELECT s.*, l.b1, greatest(l.b1, l.h) AS b2, greatest(l.b1, l.h, l.q) AS b3
    FROM series s
    LEFT JOIN rollup_invalidations inv ON inv.source_id = s.id AND inv.metric = s.metric
    CROSS JOIN LATERAL (
        SELECT coalesce((SELECT date_trunc('day', least(w.watermark, inv.earliest) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                         FROM rollup_watermarks w WHERE w.tier = '1d'), '-infinity') AS b1,
               coalesce((SELECT date_trunc('hour', least(w.watermark, inv.earliest) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                         FROM rollup_watermarks w WHERE w.tier = '1h'), '-infinity') AS h,
               coalesce((SELECT date_bin('15 minutes', least(w.watermark, inv.earliest), timestamptz '2000-01-01 00:00:00+00')
                         FROM rollup_watermarks w WHERE w.tier = '15m'), '-infinity') AS q
    ) l
),
-- Pieces of each series in time order: tier rows and raw samples, as
-- rollups.Summary values (a raw sample is a piece with no increase).
pieces AS (
    SELECT l.tenant, l.site_id, l.public_id, l.id, l.direction, l.method,
           p.first_time, p.first_value, p.last_time, p.last_value, p.increase, p.integral
    FROM limits l
    CROSS JOIN LATERAL (
        SELECT first_time, first_value, last_time, last_value, increase, integral
        FROM rollup_1d WHERE source_id = l.id AND metric = l.metric AND bucket < l.b1
        UNION ALL
        SELECT first_time, first_value, last_time, last_value, increase, integral
        FROM rollup_1h WHERE source_id = l.id AND metric = l.metric AND bucket >= l.b1 AND bucket < l.b2
        UNION ALL
        SELECT first_time, first_value, last_time, last_value, increase, integral
        FROM rollup_15m WHERE source_id = l.id AND metric = l.metric AND bucket >= l.b2 AND bucket < l.b3
        UNION ALL
        SELECT time, value, time, value, 0, 0
        FROM readings WHERE source_id = l.id AND metric = l.metric AND time >= l.b3
    ) p
),
-- Each piece with the last sample before it: the stretch between them.
stretches AS NOT MATERIALIZED (
    SELECT p.*,
           lag(p.last_time) OVER w AS t0, lag(p.last_value) OVER w AS v0
    FROM pieces p
    WINDOW w AS (PARTITION BY p.tenant, p.site_id, p.id, p.direction ORDER BY p.first_time)
),
-- What each piece and each day's part of each stretch adds to its day, with
-- the time it is added at (ord breaks a tie: a single sample, then the
-- stretch leaving it).
parts AS (
    SELECT tenant, site_id, public_id, direction, method,
           date_trunc('day', first_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day,
           first_time AS at, 0 AS ord, increase, integral
    FROM stretches
    UNION ALL
    SELECT s.tenant, s.site_id, s.public_id, s.direction, s.method, e.day, e.a, 1,
           -- as query.Engine.stretch: the cumulative increase at b minus
           -- that at a, exact at the stretch's own ends.
           (CASE WHEN e.b = s.first_time THEN e.inc ELSE e.inc * ((e.bus - e.t0us)::float8 / e.dt) END)
         - (CASE WHEN e.a = s.t0 THEN 0 ELSE e.inc * ((e.aus - e.t0us)::float8 / e.dt) END),
           CASE WHEN e.a = s.t0 AND e.b = s.first_time
                THEN (s.v0 + s.first_value) / 2 * (e.t1us - e.t0us)::float8 / 1e6
                ELSE ((CASE WHEN e.a = s.t0 THEN s.v0 ELSE s.v0 + (s.first_value - s.v0) * ((e.aus - e.t0us)::float8 / e.dt) END)
                    + (CASE WHEN e.b = s.first_time THEN s.first_value ELSE s.v0 + (s.first_value - s.v0) * ((e.bus - e.t0us)::float8 / e.dt) END))
                     / 2 * (e.bus - e.aus)::float8 / 1e6
           END
    FROM stretches s
    CROSS JOIN LATERAL generate_series(date_trunc('day', s.t0 AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                                       s.first_time - interval '1 microsecond', interval '24 hours') g (day)
    CROSS JOIN LATERAL (
        SELECT g.day, x.a, x.b, x.t0us, x.t1us,
               (extract(epoch FROM x.a) * 1000000)::bigint AS aus,
               (extract(epoch FROM x.b) * 1000000)::bigint AS bus,
               (x.t1us - x.t0us)::float8 AS dt,
               CASE WHEN s.first_value >= s.v0 THEN s.first_value - s.v0 ELSE s.first_value END AS inc
        FROM (SELECT greatest(s.t0, g.day) AS a, least(s.first_time, g.day + interval '24 hours') AS b,
                     (extract(epoch FROM s.t0) * 1000000)::bigint AS t0us,
                     (extract(epoch FROM s.first_time) * 1000000)::bigint AS t1us) x
    ) e
    WHERE s.t0 IS NOT NULL
),
-- Each member's energy per day and direction, kWh.
member_days AS (
    SELECT tenant, site_id, public_id, direction, day,
           CASE WHEN min(method) = 'counter' THEN sum(increase ORDER BY at, ord) / 1e3
                ELSE sum(integral ORDER BY at, ord) / 3.6e6 END AS kwh
    FROM parts
    GROUP BY tenant, site_id, public_id, direction, day
),
-- Which directions some member of the site measures at all.
site_directions AS (
    SELECT tenant, site_id,
           bool_or(direction = 'import') AS import, bool_or(direction = 'export') AS export
    FROM series
    GROUP BY tenant, site_id
)
SELECT md.day AS time, md.tenant, md.site_id AS site,
       CASE WHEN sd.import THEN coalesce(sum(md.kwh ORDER BY md.public_id) FILTER (WHERE md.direction = 'import'), 0) END AS import_kwh,
       CASE WHEN sd.export THEN coalesce(sum(md.kwh ORDER BY md.public_id) FILTER (WHERE md.direction = 'export'), 0) END AS export_kwh
FROM member_days md
JOIN site_directions sd ON sd.tenant = md.tenant AND sd.site_id = md.site_id
GROUP BY md.day, md.tenant, md.site_id, sd.import, sd.export;

-- Power imported per 15 minutes and source: the 15-minute rollups before
-- that tier's watermark (or a series' earliest late reading), raw readings
-- grouped the same way after it. avg_w is the mean of the samples and
-- sum_w and samples let a coarser group weigh them (sum(sum_w) /
-- sum(samples)); peak_w is the largest sample.
CREATE VIEW grafana_power_15m AS
WITH lim AS (
    SELECT coalesce((SELECT watermark FROM rollup_watermarks WHERE tier = '15m'), '-infinity') AS wm
),
series AS (
    SELECT s.id, s.public_id, s.tenant_id, s.site_id, s.kind, s.name, s.external_id, m.id AS metric,
           date_bin('15 minutes', least(lim.wm, inv.earliest), timestamptz '2000-01-01 00:00:00+00') AS until
    FROM sources s
    JOIN metrics m ON m.name = 'power_import'
    CROSS JOIN lim
    LEFT JOIN rollup_invalidations inv ON inv.source_id = s.id AND inv.metric = m.id
),
buckets AS (
    SELECT r.source_id, r.bucket, r.n, r.sum, r.max
    FROM series s JOIN rollup_15m r ON r.source_id = s.id AND r.metric = s.metric AND r.bucket < s.until
    UNION ALL
    SELECT r.source_id, date_bin('15 minutes', r.time, timestamptz '2000-01-01 00:00:00+00'), count(*), sum(r.value), max(r.value)
    FROM series s JOIN readings r ON r.source_id = s.id AND r.metric = s.metric AND r.time >= s.until
    GROUP BY 1, 2
)
SELECT b.bucket AS time, t.public_id AS tenant, s.site_id AS site, s.public_id AS source,
       s.external_id, s.name, s.kind,
       b.n AS samples, b.sum AS sum_w, b.sum / b.n AS avg_w, b.max AS peak_w
FROM buckets b
JOIN series s ON s.id = b.source_id
JOIN tenants t ON t.id = s.tenant_id;

-- Charging sessions per UTC day of their start, per connector: how many
-- started, how many of those have stopped, and the energy their meters
-- give (meter_stop − meter_start, kWh) for those that have both.
CREATE VIEW grafana_sessions_daily AS
SELECT date_trunc('day', se.start_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS time,
       t.public_id AS tenant, s.site_id AS site, s.public_id AS source, s.external_id, s.name,
       count(*) AS sessions,
       count(*) FILTER (WHERE se.stop_time IS NOT NULL) AS stopped,
       coalesce(sum(se.meter_stop - se.meter_start) / 1e3, 0) AS energy_kwh
FROM sessions se
JOIN tenants t ON t.id = se.tenant_id
LEFT JOIN sources s ON s.id = se.source_id
GROUP BY 1, t.public_id, s.site_id, s.public_id, s.external_id, s.name;
