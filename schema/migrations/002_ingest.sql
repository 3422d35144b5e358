-- Per-phase metrics for chargers reporting per phase, and the record of
-- late data that rollups must re-aggregate.

INSERT INTO metrics (id, name, unit, kind, description) VALUES
    (12, 'current_import_l1', 'A', 'gauge', 'Current imported on phase L1'),
    (13, 'current_import_l2', 'A', 'gauge', 'Current imported on phase L2'),
    (14, 'current_import_l3', 'A', 'gauge', 'Current imported on phase L3'),
    (15, 'voltage_l1',        'V', 'gauge', 'Voltage of phase L1 to neutral'),
    (16, 'voltage_l2',        'V', 'gauge', 'Voltage of phase L2 to neutral'),
    (17, 'voltage_l3',        'V', 'gauge', 'Voltage of phase L3 to neutral'),
    (18, 'power_import_l1',   'W', 'gauge', 'Active power imported on phase L1'),
    (19, 'power_import_l2',   'W', 'gauge', 'Active power imported on phase L2'),
    (20, 'power_import_l3',   'W', 'gauge', 'Active power imported on phase L3');

-- One row per series that received readings older than the ingest horizon:
-- the earliest such time. Rollups re-aggregate from there and delete the row.
CREATE TABLE rollup_invalidations (
    source_id  bigint NOT NULL,
    metric     smallint NOT NULL,
    earliest   timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, metric)
);
