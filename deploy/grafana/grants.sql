-- A login role for Grafana that reads the grafana_* views and nothing else.
-- The views run with their owner's rights, so SELECT on them is all the
-- role needs: no table of the schema is readable to it. Roles belong to
-- the whole cluster, not to one database, which is why the migrations do
-- not create this one. Run it with psql as the owner of the schema, after
-- gridmetrics has migrated, giving the role's password:
--
--   psql "$GRIDMETRICS_DATABASE_URL" -v ON_ERROR_STOP=1 -v password=... -f deploy/grafana/grants.sql
--
-- It is safe to run again; it also resets the password.
SELECT 'CREATE ROLE grafana_reader LOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'grafana_reader') \gexec
ALTER ROLE grafana_reader LOGIN PASSWORD :'password';
-- Statements of a dashboard never run for long; a runaway one is stopped.
ALTER ROLE grafana_reader SET statement_timeout = '30s';
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
SELECT format('GRANT CONNECT ON DATABASE %I TO grafana_reader', current_database()) \gexec
SELECT format('GRANT USAGE ON SCHEMA %I TO grafana_reader', current_schema()) \gexec
GRANT SELECT ON grafana_sources, grafana_site_energy_daily, grafana_power_15m, grafana_sessions_daily TO grafana_reader;
