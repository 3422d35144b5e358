-- Sites: where sources stand, with what an OCPI Location needs to describe
-- it (address, coordinates, time zone, operator). A site's id is the
-- tenant's own name for it, exactly what sources.site_id has always held,
-- so existing values become sites as they are.
--
-- country is ISO 3166-1 alpha-3; latitude and longitude are OCPI
-- GeoLocation strings ("52.520008"), checked by the API against OCPI's
-- patterns; ocpi_location_id is the OCPI Location.id a CDR names. Columns
-- the tenant has not filled are null (name is '' and timezone 'UTC').
CREATE TABLE sites (
    tenant_id        bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               text NOT NULL,
    name             text NOT NULL DEFAULT '',
    address          text,
    city             text,
    postal_code      text,
    state            text,
    country          text CHECK (country ~ '^[A-Z]{3}$'),
    latitude         text,
    longitude        text,
    timezone         text NOT NULL DEFAULT 'UTC',
    operator_name    text,
    operator_website text,
    ocpi_location_id text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- Today's free-form site ids, per tenant. A site takes the time zone its
-- sources agree on (UTC when they do not) and the time its first source
-- was registered.
INSERT INTO sites (tenant_id, id, timezone, created_at, updated_at)
SELECT tenant_id, site_id,
       CASE WHEN count(DISTINCT timezone) = 1 THEN min(timezone) ELSE 'UTC' END,
       min(created_at), min(created_at)
FROM sources
WHERE site_id IS NOT NULL
GROUP BY tenant_id, site_id;

-- A source naming a site that does not exist yet creates a bare one (its
-- time zone the source's) in the same statement, so every way of
-- registering a source (the API, bulk registration, ingest and OCPP
-- auto-registration) keeps accepting any site id, as it did before sites
-- existed. Renaming a site carries over to its sources (ON UPDATE
-- CASCADE); a site that sources still name cannot be deleted.
CREATE FUNCTION sources_ensure_site() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.site_id IS NOT NULL THEN
        INSERT INTO sites (tenant_id, id, timezone)
        VALUES (NEW.tenant_id, NEW.site_id, NEW.timezone)
        ON CONFLICT (tenant_id, id) DO NOTHING;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER sources_ensure_site
    BEFORE INSERT OR UPDATE OF tenant_id, site_id ON sources
    FOR EACH ROW EXECUTE FUNCTION sources_ensure_site();

ALTER TABLE sources
    ADD CONSTRAINT sources_site FOREIGN KEY (tenant_id, site_id)
        REFERENCES sites (tenant_id, id) ON UPDATE CASCADE;

-- A connector's attributes, as OCPI describes a Connector: standard
-- (ConnectorType), format (ConnectorFormat), power type (PowerType), each
-- an OCPI enum value checked by the API; maximum voltage (V), amperage (A)
-- and electric power (W). Null when unknown; a charger's values stand for
-- its connectors that have none.
ALTER TABLE sources
    ADD COLUMN connector_standard   text,
    ADD COLUMN connector_format     text,
    ADD COLUMN connector_power_type text,
    ADD COLUMN max_voltage          integer CHECK (max_voltage > 0),
    ADD COLUMN max_amperage         integer CHECK (max_amperage > 0),
    ADD COLUMN max_electric_power   integer CHECK (max_electric_power > 0);
