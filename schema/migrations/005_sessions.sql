-- Charging sessions: their lifecycle, their priced result and the change
-- order billing pulls page through. Readings are not copied: a session's
-- meter values are read from readings by connector and time window.

-- change_seq orders a tenant's session changes in commit order: it is drawn
-- under a per-tenant advisory lock held until commit (sessions.Store), so a
-- change with a higher change_seq always commits after every lower one of
-- the same tenant. The sequence itself is shared by all tenants.
CREATE SEQUENCE session_changes;

-- OCPP 1.6 transaction ids are assigned by the central system (here), as
-- 32-bit integers.
CREATE SEQUENCE ocpp16_transaction_ids AS integer CYCLE;

CREATE TABLE sessions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id      text NOT NULL UNIQUE,
    tenant_id      bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The connector (or EVSE). A priced session outlives its source: billing
    -- data is not deleted with a charger.
    source_id      bigint REFERENCES sources (id) ON DELETE SET NULL,
    -- '' for sessions started through the API; external_id is then the
    -- caller's id, else the OCPP transaction id.
    charge_box_id  text NOT NULL DEFAULT '',
    external_id    text NOT NULL,
    protocol       text NOT NULL CHECK (protocol IN ('api', 'ocpp1.6', 'ocpp2.0.1')),
    id_tag         text NOT NULL DEFAULT '',
    status         text NOT NULL CHECK (status IN ('active', 'completed', 'priced', 'failed')),
    start_time     timestamptz NOT NULL,
    stop_time      timestamptz CHECK (stop_time >= start_time),
    meter_start    double precision, -- Wh
    meter_stop     double precision, -- Wh
    stop_reason    text NOT NULL DEFAULT '',
    failure_reason text NOT NULL DEFAULT '',
    -- OCPP 2.0.1 TransactionEvents folded into this session (sessions.Event).
    events         jsonb NOT NULL DEFAULT '[]',
    -- The last pricing: tariff version, invoice totals, usage, the itemised
    -- result and the OCPI CDR (json, not jsonb: served byte for byte).
    tariff_ref     text NOT NULL DEFAULT '',
    currency       text NOT NULL DEFAULT '',
    energy_kwh     numeric,
    charging_hours numeric,
    parking_hours  numeric,
    total_excl_vat numeric,
    total_incl_vat numeric,
    price          json,
    cdr            json,
    price_count    integer NOT NULL DEFAULT 0,
    priced_at      timestamptz,
    -- A pricing worker's claim; other workers skip the session until then.
    claimed_until  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL,
    change_seq     bigint NOT NULL,
    UNIQUE (tenant_id, charge_box_id, external_id)
);
CREATE UNIQUE INDEX sessions_changes ON sessions (tenant_id, change_seq);
CREATE INDEX sessions_to_price ON sessions (change_seq) WHERE status = 'completed';
CREATE INDEX sessions_tenant_start ON sessions (tenant_id, start_time);
CREATE INDEX sessions_source_start ON sessions (source_id, start_time);
