-- OCPP id-tag policy: what Authorize, StartTransaction (1.6) and
-- TransactionEvent (2.0.1) answer about an id tag. A tenant without a row
-- accepts every tag (accept_all); in list mode only its listed tags are
-- accepted. tag_count counts the tenant's listed tags, kept under the
-- row's lock, so that the cap per tenant holds without counting the list.
CREATE TABLE ocpp_id_tag_policies (
    tenant_id  bigint PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    mode       text NOT NULL DEFAULT 'accept_all' CHECK (mode IN ('accept_all', 'list')),
    tag_count  integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- tag_key is the tag upper-cased: OCPP compares id tags (CiString)
-- case-insensitively; tag keeps the spelling given.
CREATE TABLE ocpp_id_tags (
    tenant_id  bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    tag_key    text NOT NULL,
    tag        text NOT NULL,
    status     text NOT NULL CHECK (status IN ('accepted', 'blocked')),
    expires_at timestamptz,
    note       text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, tag_key)
);
