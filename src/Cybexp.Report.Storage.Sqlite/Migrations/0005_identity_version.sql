-- A number that grows with every change of users, orgs or membership. A worker's claim reads it (in the claim's own
-- statement), so a user's access cached at this version or later is known to be current for the claimed query, and a
-- membership change is seen by every query claimed after it committed. Triggers bump it for every written row,
-- whoever writes.
CREATE TABLE identity_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO identity_version (id, version) VALUES (1, 0);

CREATE TRIGGER users_ins_identity_version AFTER INSERT ON users BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER users_upd_identity_version AFTER UPDATE ON users BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER users_del_identity_version AFTER DELETE ON users BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER orgs_ins_identity_version AFTER INSERT ON orgs BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER orgs_upd_identity_version AFTER UPDATE ON orgs BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER orgs_del_identity_version AFTER DELETE ON orgs BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER org_members_ins_identity_version AFTER INSERT ON org_members BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER org_members_upd_identity_version AFTER UPDATE ON org_members BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER org_members_del_identity_version AFTER DELETE ON org_members BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
