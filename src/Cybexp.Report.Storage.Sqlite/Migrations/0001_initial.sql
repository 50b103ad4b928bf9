-- Archive: every TAHOE document once, keyed by its hash; seq is the order documents were first stored.
CREATE TABLE instances (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    hash     BLOB NOT NULL UNIQUE,
    itype    TEXT NOT NULL,
    sub_type TEXT NOT NULL,
    doc      TEXT NOT NULL
);

-- Events with the fields access control and time filters use.
CREATE TABLE events (
    seq      INTEGER PRIMARY KEY,          -- instances.seq
    hash     BLOB NOT NULL UNIQUE,
    orgid    TEXT NOT NULL,
    ts       REAL NOT NULL,
    category TEXT NOT NULL
);
CREATE INDEX events_org_ts ON events (orgid, ts);

-- One row per (event, hash in the event's _ref): "events of attribute X of org O in time range R" is a range scan.
-- ctx: 0 no context, 1 benign (_ben_ref), 2 malicious (_mal_ref).
CREATE TABLE event_refs (
    ref_hash  BLOB NOT NULL,
    orgid     TEXT NOT NULL,
    ts        REAL NOT NULL,
    event_seq INTEGER NOT NULL,
    ctx       INTEGER NOT NULL,
    category  TEXT NOT NULL,
    PRIMARY KEY (ref_hash, orgid, ts, event_seq)
) WITHOUT ROWID;
CREATE INDEX event_refs_event ON event_refs (event_seq);

-- Sessions hold events through their _ref.
CREATE TABLE session_events (
    event_hash  BLOB NOT NULL,
    session_seq INTEGER NOT NULL,
    PRIMARY KEY (event_hash, session_seq)
) WITHOUT ROWID;
CREATE INDEX session_events_session ON session_events (session_seq);

-- Identity.
CREATE TABLE users (
    hash     BLOB PRIMARY KEY,
    email    TEXT NOT NULL,
    name     TEXT NOT NULL,
    sub_type TEXT NOT NULL
);
CREATE INDEX users_email ON users (email);

CREATE TABLE orgs (
    hash    BLOB PRIMARY KEY,
    orgname TEXT NOT NULL,
    name    TEXT NOT NULL
);
CREATE INDEX orgs_name ON orgs (orgname);

-- role: 0 member (_usr_ref), 1 admin (_adm_ref).
CREATE TABLE org_members (
    user_hash BLOB NOT NULL,
    role      INTEGER NOT NULL,
    org_hash  BLOB NOT NULL,
    PRIMARY KEY (user_hash, role, org_hash)
) WITHOUT ROWID;
CREATE INDEX org_members_org ON org_members (org_hash);

CREATE TABLE archive_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO archive_version (id, version) VALUES (1, 0);

-- Queries and their reports (one report per query).
CREATE TABLE queries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    qtype         TEXT NOT NULL,
    qdata         TEXT NOT NULL,
    encrypted     INTEGER NOT NULL,
    userid        TEXT NOT NULL,
    qhash         TEXT,
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_token   TEXT,
    lease_expires REAL,
    submitted     REAL NOT NULL,
    finished      REAL,
    notify_host   TEXT,
    notify_port   INTEGER,
    notify_nonce  TEXT,
    report_hash   TEXT,
    report        TEXT,
    error         TEXT
);
CREATE INDEX queries_claim ON queries (status, id);
CREATE INDEX queries_recent ON queries (userid, qhash, submitted);
