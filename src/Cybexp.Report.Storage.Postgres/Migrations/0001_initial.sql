-- The PostgreSQL schema: the same tables and semantics as the SQLite store, laid out so that the archive can be
-- sharded by hash.
--
-- Hashes are the 32 raw bytes of the SHA-256 (bytea). Text columns that are sorted or compared use the "C" collation,
-- so ordering is by code point whatever the database's locale (as SQLite's BINARY).
--
-- Distributing with Citus (11 or later), without code changes, after this script ran on the coordinator:
--
--   SELECT create_distributed_table('instances',      'hash');
--   SELECT create_distributed_table('events',         'hash',       colocate_with => 'instances');
--   SELECT create_distributed_table('event_refs',     'ref_hash',   colocate_with => 'instances');
--   SELECT create_distributed_table('session_events', 'event_hash', colocate_with => 'instances');
--   SELECT create_reference_table('users');
--   SELECT create_reference_table('orgs');
--   SELECT create_reference_table('org_members');
--   SELECT create_reference_table('archive_version');
--
-- queries and schema_migrations stay plain tables on the coordinator: they never join archive tables, and the claim
-- (FOR UPDATE SKIP LOCKED) runs there.
--
-- Why this works: every primary key of a distributed table starts with its distribution column; the hot lookups
-- ("events referencing attribute X", count, page, buckets, time span) filter on event_refs.ref_hash and so go to one
-- shard; event_refs carries the event hash, so paging needs no join; the other joins (instances with event_refs on the
-- referenced hash, events with session_events on the event hash) are on co-located columns. The seq columns come from
-- sequences and only order rows; they are not unique keys.

-- Archive: every TAHOE document once, keyed by its hash; seq is the order documents were first stored. Writers draw
-- seq values from instance_seq in batch order (a duplicate burns one value; gaps are harmless).
CREATE SEQUENCE instance_seq;
CREATE TABLE instances (
    hash     bytea PRIMARY KEY CHECK (octet_length(hash) = 32),
    seq      bigint NOT NULL DEFAULT nextval('instance_seq'),
    itype    text NOT NULL,
    sub_type text NOT NULL,
    doc      text NOT NULL
);

-- Events with the fields access control and time filters use; refs holds the event's _ref hashes, 32 bytes each,
-- concatenated in ascending order (graph engines stream events with their references from this one table). It always
-- matches the event's rows in event_refs.
CREATE TABLE events (
    hash     bytea PRIMARY KEY,
    seq      bigint NOT NULL,              -- instances.seq
    orgid    text COLLATE "C" NOT NULL,
    ts       double precision NOT NULL,
    category text COLLATE "C" NOT NULL,
    refs     bytea NOT NULL
);
CREATE INDEX events_org_seq ON events (orgid, seq);

-- One row per (event, hash in the event's _ref): "events of attribute X of org O in time range R" is a range scan of
-- the primary key. ctx: 0 no context, 1 benign (_ben_ref), 2 malicious (_mal_ref).
CREATE TABLE event_refs (
    ref_hash   bytea NOT NULL,
    orgid      text COLLATE "C" NOT NULL,
    ts         double precision NOT NULL,
    event_seq  bigint NOT NULL,
    event_hash bytea NOT NULL,
    ctx        smallint NOT NULL,
    category   text COLLATE "C" NOT NULL,
    PRIMARY KEY (ref_hash, orgid, ts, event_seq)
);
-- No index on the event: when an event's content is replaced, its old rows are found by primary key from the old
-- events row (refs, orgid, ts, seq).

-- Sessions hold events through their _ref.
CREATE TABLE session_events (
    event_hash   bytea NOT NULL,
    session_hash bytea NOT NULL,
    session_seq  bigint NOT NULL,
    PRIMARY KEY (event_hash, session_hash)
);
CREATE INDEX session_events_session ON session_events (session_hash);

-- Identity.
CREATE TABLE users (
    hash     bytea PRIMARY KEY,
    email    text COLLATE "C" NOT NULL,
    name     text NOT NULL,
    sub_type text NOT NULL
);
CREATE INDEX users_email ON users (email);

CREATE TABLE orgs (
    hash    bytea PRIMARY KEY,
    orgname text COLLATE "C" NOT NULL,
    name    text NOT NULL
);
CREATE INDEX orgs_name ON orgs (orgname);

-- role: 0 member (_usr_ref), 1 admin (_adm_ref).
CREATE TABLE org_members (
    user_hash bytea NOT NULL,
    role      smallint NOT NULL,
    org_hash  bytea NOT NULL,
    PRIMARY KEY (user_hash, role, org_hash)
);
CREATE INDEX org_members_org ON org_members (org_hash);

CREATE TABLE archive_version (
    id      integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO archive_version (id, version) VALUES (1, 0);

-- Queries and their reports (one report per query).
CREATE TABLE queries (
    id            bigserial PRIMARY KEY,
    qtype         text NOT NULL,
    qdata         text NOT NULL,
    encrypted     boolean NOT NULL,
    userid        text NOT NULL,
    qhash         text,
    status        text COLLATE "C" NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    lease_token   text,
    lease_expires double precision,
    submitted     double precision NOT NULL,
    finished      double precision,
    notify_host   text,
    notify_port   integer,
    notify_nonce  text,
    report_hash   text,
    report        text,
    error         text
);
-- Only claimable rows are indexed: the claim reads the oldest of them.
CREATE INDEX queries_claim ON queries (id) WHERE status IN ('wait', 'processing');
CREATE INDEX queries_recent ON queries (userid, qhash, submitted);
