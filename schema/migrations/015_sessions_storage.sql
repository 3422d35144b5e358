-- Pricing writes a completed session twice: the worker's claim
-- (claimed_until) and then the result. The claim changes no indexed column,
-- so with room left on the session's page it is a heap-only update that adds
-- nothing to the table's indexes; new pages are filled to 70 % to keep that
-- room.
ALTER TABLE sessions SET (fillfactor = 70);

-- A session's price and CDR (2–3 kB of JSON each) and its events are
-- compressed when stored: lz4 costs a fraction of pglz's CPU at about the
-- same ratio on JSON. A server built without lz4 keeps its default.
DO $$
BEGIN
    ALTER TABLE sessions ALTER COLUMN price SET COMPRESSION lz4,
        ALTER COLUMN cdr SET COMPRESSION lz4, ALTER COLUMN events SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available; sessions keep the default compression';
END
$$;
