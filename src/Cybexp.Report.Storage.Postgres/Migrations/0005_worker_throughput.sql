-- A number that grows with every change of users, orgs or membership. A worker's claim reads it (in the claim's own
-- statement), so a user's access cached at this version or later is known to be current for the claimed query, and a
-- membership change is seen by every query claimed after it committed. Statement-level triggers bump it once per
-- writing statement, whoever writes (ingest, identity commands, a direct SQL edit).
CREATE TABLE identity_version (
    id      integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO identity_version (id, version) VALUES (1, 0);

CREATE FUNCTION bump_identity_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE identity_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_identity_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_version();
CREATE TRIGGER orgs_identity_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON orgs
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_version();
CREATE TRIGGER org_members_identity_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON org_members
    FOR EACH STATEMENT EXECUTE FUNCTION bump_identity_version();

-- The claim reads waiting queries and expired leases through separate indexes: one index over both made every claim
-- visit each query in progress (their leases hold, so they are skipped) before reaching a waiting one.
CREATE INDEX queries_waiting ON queries (id) WHERE status = 'wait';
CREATE INDEX queries_leases ON queries (lease_expires) WHERE status = 'processing';
DROP INDEX queries_claim;
