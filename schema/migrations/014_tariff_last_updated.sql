-- Every tariff version's document carries last_updated, which OCPI
-- requires of a Tariff (a CDR embeds its tariff, and a peer refuses one
-- without it). A document sent without it takes the version's creation
-- time: a version is the tariff as last updated. Written as an OCPI
-- DateTime: UTC, to the millisecond.
CREATE FUNCTION tariff_versions_last_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT NEW.document ? 'last_updated' THEN
        NEW.document := NEW.document || jsonb_build_object('last_updated',
            to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER tariff_versions_last_updated
    BEFORE INSERT ON tariff_versions
    FOR EACH ROW EXECUTE FUNCTION tariff_versions_last_updated();

UPDATE tariff_versions
SET document = document || jsonb_build_object('last_updated',
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
WHERE NOT document ? 'last_updated';
