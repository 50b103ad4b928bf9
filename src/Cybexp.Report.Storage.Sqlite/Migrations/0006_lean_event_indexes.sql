-- Two secondary indexes of events that no lookup needs, and that an ingest updates at random places (every event
-- inserts one row into each, in hash order and in (orgid, ts) order), go:
--
-- * events_org_ts (orgid, ts): every read of events either goes by seq or reads the visible orgs' events in seq order
--   (a scan of the table is that order already); with a few orgs the index only made SQLite sort them again.
-- * the UNIQUE index of events.hash: events.hash is instances.hash of the same seq, which is unique already. The one
--   lookup by an event hash (a session's events) goes through instances.hash to events.seq.
--
-- At 200k events these were a quarter of the index pages an ingest dirties at random (4,383 + 2,253 of 26,407).
-- SQLite cannot drop a UNIQUE constraint, so the table is rebuilt (same columns, same rows, same seq).
DROP INDEX events_org_ts;

CREATE TABLE events_lean (
    seq      INTEGER PRIMARY KEY,          -- instances.seq
    hash     BLOB NOT NULL,                -- instances.hash of seq
    orgid    TEXT NOT NULL,
    ts       REAL NOT NULL,
    category TEXT NOT NULL,
    refs     BLOB NOT NULL DEFAULT x''     -- the event's _ref hashes, 32 bytes each, ascending
);
INSERT INTO events_lean (seq, hash, orgid, ts, category, refs)
SELECT seq, hash, orgid, ts, category, refs FROM events ORDER BY seq;

DROP TABLE events;
ALTER TABLE events_lean RENAME TO events;
