-- MQTT messages the service could not take in: undecodable payloads and
-- messages whose rows were refused. They are acknowledged to the broker (a
-- poison message must not block the stream) and kept here for the tenant
-- to see. The service keeps the newest few per tenant and deletes older
-- ones as it adds new ones. payload_head is the first bytes of the
-- payload; payload_size its whole size.
CREATE TABLE mqtt_rejections (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    topic        text NOT NULL,
    received_at  timestamptz NOT NULL,
    reason       text NOT NULL,
    payload_head bytea NOT NULL,
    payload_size integer NOT NULL
);
CREATE INDEX mqtt_rejections_tenant ON mqtt_rejections (tenant_id, id DESC);
