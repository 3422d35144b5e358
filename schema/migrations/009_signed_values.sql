-- Signed meter values (OCMF records, German calibration law) of charging
-- sessions, kept verbatim as the charger sent them, with what this service
-- made of them when they arrived (sessions.SignedValue).
CREATE TABLE signed_values (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id      bigint NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    nature          text NOT NULL CHECK (nature IN ('Start', 'Intermediate', 'End')),
    -- The record exactly as received (OCPP 1.6 value, 2.0.1 signedMeterData).
    record          text NOT NULL,
    context         text NOT NULL DEFAULT '',
    encoding_method text NOT NULL DEFAULT '',
    signing_method  text NOT NULL DEFAULT '',
    -- The key sent with the value, if any; a key registered on the source
    -- is read from the source when the value is checked.
    public_key      text NOT NULL DEFAULT '',
    status          text NOT NULL CHECK (status IN ('verified', 'invalid', 'unsupported', 'unsigned')),
    reason          text NOT NULL DEFAULT '',
    -- The energy reading the record stands for; NULL when it has none.
    reading_time    timestamptz,
    reading_wh      double precision,
    received_at     timestamptz NOT NULL DEFAULT now()
);

-- A charger repeats a message it got no answer to: the same record is kept
-- once per session.
CREATE UNIQUE INDEX signed_values_record ON signed_values (session_id, md5(record));
