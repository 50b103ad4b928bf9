-- Events are found through an index of the first 8 bytes of their hash; every other instance keeps a UNIQUE index of
-- its whole hash.
--
-- An ingest inserts every new document's hash at a random place of the hash index, so each transaction dirties nearly
-- all its leaf pages, and every one is written to the WAL and again at the checkpoint. With one index of 32-byte keys
-- that was 53 MB at 1M events and 106 MB at 2M, more than the writer's 64 MiB page cache. Events are about 80 % of
-- the documents; keyed by 8 bytes, their entries take about 18 bytes instead of 41 (bench/results/ingest.md).
--
-- The other instances (attributes, objects, sessions, identity documents: what references point at) keep the whole
-- hash in their index, so that a reference is resolved from the index alone (the dangling-reference count looks up
-- every referenced hash). Which index holds an instance follows from its hash: itype is part of the hashed text.
--
-- hash8 is a virtual column (computed, not stored in the row); the index holds it. An event is found by
-- itype = 'event' AND hash8 = substr(X, 1, 8) AND hash = X: the index range of the prefix, then the full hash of each
-- row in it, so two events whose hashes share a prefix are still two events.
--
-- The events' index is UNIQUE on (hash8, prefix_no): prefix_no is 0 for the first event with a prefix, 1, 2, ... for
-- later events whose hashes share it (only ever made on purpose: 8 bytes of SHA-256). So inserting an event checks
-- and updates the index in one step (ON CONFLICT DO NOTHING); only when that finds the prefix taken does the store
-- look for the whole hash, and insert the event with the next prefix_no if it is new (SqliteArchive.Writer).
--
-- SQLite cannot drop a UNIQUE constraint: the table is rebuilt (same columns, same rows, same seq).
CREATE TABLE instances_by_kind (
    seq       INTEGER PRIMARY KEY,
    hash      BLOB NOT NULL,
    itype     TEXT NOT NULL,
    sub_type  TEXT NOT NULL,
    doc       TEXT NOT NULL,
    prefix_no INTEGER NOT NULL DEFAULT 0,
    hash8     BLOB GENERATED ALWAYS AS (substr(hash, 1, 8)) VIRTUAL
);

-- Stored events whose hash shares its first 8 bytes with an earlier event's, numbered in seq order.
CREATE TEMP TABLE later_prefix (seq INTEGER PRIMARY KEY, prefix_no INTEGER NOT NULL);
INSERT INTO later_prefix (seq, prefix_no)
SELECT seq, n FROM (
    SELECT seq, row_number() OVER (PARTITION BY substr(hash, 1, 8) ORDER BY seq) - 1 AS n FROM instances WHERE itype = 'event'
) WHERE n > 0;

INSERT INTO instances_by_kind (seq, hash, itype, sub_type, doc, prefix_no)
SELECT i.seq, i.hash, i.itype, i.sub_type, i.doc, coalesce(l.prefix_no, 0)
FROM instances i LEFT JOIN later_prefix l ON l.seq = i.seq ORDER BY i.seq;
DROP TABLE later_prefix;

DROP TABLE instances;
ALTER TABLE instances_by_kind RENAME TO instances;
CREATE UNIQUE INDEX instances_hash ON instances (hash) WHERE itype <> 'event';
CREATE UNIQUE INDEX instances_event_hash8 ON instances (hash8, prefix_no) WHERE itype = 'event';
