-- OCPP-J: the password a charge box presents (HTTP Basic, OCPP security
-- profiles 1 and 2) when it connects to /ocpp/{tenant}/{chargeBoxId}. One
-- per charger source; only a slow hash is kept (PBKDF2, see ocppj).
CREATE TABLE ocpp_passwords (
    source_id  bigint PRIMARY KEY REFERENCES sources (id) ON DELETE CASCADE,
    hash       text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
