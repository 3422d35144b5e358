-- Connector availability: the state changes of charge boxes and their
-- connectors (OCPP StatusNotification statuses, and the charge box's
-- connection going up and down). A source's states form a series ordered by
-- time, not by arrival: a late change lands in its place. kind separates
-- the two series a source may have, so that a connection change and a
-- status change at the same instant do not overwrite each other; a resent
-- change (same source, kind and time) replaces the row, last write wins.
-- Like readings, it has no foreign key (sources.Store.Delete removes a
-- source's rows) and is a hypertable on TimescaleDB (schema.applyTimescale).

CREATE TABLE availability_changes (
    time      timestamptz NOT NULL,
    tenant_id bigint NOT NULL,
    source_id bigint NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('status', 'connection')),
    state     text NOT NULL
);
CREATE UNIQUE INDEX availability_changes_series ON availability_changes (source_id, kind, time);
