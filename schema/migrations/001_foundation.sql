-- Tenants, API keys, the metric catalogue, sources, readings and the newest
-- reading per series. TimescaleDB specifics (hypertable, compression,
-- retention) are applied after migrating, by schema.applyTimescale, because
-- they depend on the backend and on settings.

CREATE TABLE tenants (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id     text NOT NULL UNIQUE,
    name          text NOT NULL,
    auto_register boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id    text NOT NULL UNIQUE,
    tenant_id    bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '',
    -- prefix is the lookup handle embedded in the key; hash is SHA-256 of
    -- the whole key. The key itself is never stored.
    prefix       text NOT NULL UNIQUE,
    hash         bytea NOT NULL,
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE metrics (
    id          smallint PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    unit        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('counter', 'gauge')),
    description text NOT NULL
);

INSERT INTO metrics (id, name, unit, kind, description) VALUES
    (1,  'energy_import',  'Wh',    'counter', 'Active energy imported (register)'),
    (2,  'energy_export',  'Wh',    'counter', 'Active energy exported (register)'),
    (3,  'power_import',   'W',     'gauge',   'Active power imported'),
    (4,  'power_export',   'W',     'gauge',   'Active power exported'),
    (5,  'power_offered',  'W',     'gauge',   'Maximum power offered to the vehicle'),
    (6,  'current_import', 'A',     'gauge',   'Current imported, sum over phases'),
    (7,  'voltage',        'V',     'gauge',   'Voltage'),
    (8,  'soc',            '%',     'gauge',   'Vehicle state of charge'),
    (9,  'temperature',    'degC',  'gauge',   'Temperature'),
    (10, 'frequency',      'Hz',    'gauge',   'Grid frequency'),
    (11, 'price',          'currency/kWh', 'gauge', 'Energy price of a price feed');

CREATE TABLE sources (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id   text NOT NULL UNIQUE,
    tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    external_id text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('meter', 'charger', 'connector', 'price_feed', 'inverter', 'battery')),
    name        text NOT NULL DEFAULT '',
    site_id     text,
    timezone    text NOT NULL DEFAULT 'UTC',
    parent_id   bigint REFERENCES sources (id) ON DELETE SET NULL,
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, external_id)
);
CREATE INDEX sources_tenant_kind ON sources (tenant_id, kind);
CREATE INDEX sources_tenant_site ON sources (tenant_id, site_id);
CREATE INDEX sources_parent ON sources (parent_id);

-- readings has no foreign key: it is the hot table, and sources are
-- resolved (and their readings removed) by the application.
CREATE TABLE readings (
    time      timestamptz NOT NULL,
    source_id bigint NOT NULL,
    metric    smallint NOT NULL,
    value     double precision NOT NULL
);
CREATE UNIQUE INDEX readings_series_time ON readings (source_id, metric, time);

CREATE TABLE latest_readings (
    source_id bigint NOT NULL,
    metric    smallint NOT NULL,
    time      timestamptz NOT NULL,
    value     double precision NOT NULL,
    PRIMARY KEY (source_id, metric)
);
