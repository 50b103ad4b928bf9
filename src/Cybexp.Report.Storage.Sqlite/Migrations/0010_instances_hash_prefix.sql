-- Events are found through an index of the first 8 bytes of their hash; every other instance keeps a UNIQUE index of
-- its whole hash.
--
-- An ingest inserts every new document's hash at a random place of the hash index, so each transaction dirties nearly
-- all its leaf pages, and every one is written to the WAL and again at the checkpoint. With one index of 32-byte keys
-- that was 53 MB at 1M events and 106 MB at 2M, more than the writer's 64 MiB page cache. Events are about 80 % of
-- the documents; keyed by 8 bytes, their entries take 17 bytes instead of 41 (bench/results/ingest.md).
--
-- The other instances (attributes, objects, sessions, identity documents: what references point at) keep the whole
-- hash in their index, so that a reference is resolved from the index alone (the dangling-reference count looks up
-- every referenced hash). Which index holds an instance follows from its hash: itype is part of the hashed text.
--
-- hash8 is a virtual column (computed, not stored in the row); the index holds it. An event is found by
-- itype = 'event' AND hash8 = substr(X, 1, 8) AND hash = X: the index range of the prefix, then the full hash of each
-- row in it, so two events whose hashes share a prefix are still two events. The store keeps event hashes unique
-- itself: an event is inserted only when no event row has its hash (SqliteArchive.Writer), inside the one write
-- transaction SQLite allows at a time.
--
-- SQLite cannot drop a UNIQUE constraint: the table is rebuilt (same columns, same rows, same seq).
CREATE TABLE instances_by_kind (
    seq      INTEGER PRIMARY KEY,
    hash     BLOB NOT NULL,
    itype    TEXT NOT NULL,
    sub_type TEXT NOT NULL,
    doc      TEXT NOT NULL,
    hash8    BLOB GENERATED ALWAYS AS (substr(hash, 1, 8)) VIRTUAL
);
INSERT INTO instances_by_kind (seq, hash, itype, sub_type, doc)
SELECT seq, hash, itype, sub_type, doc FROM instances ORDER BY seq;

DROP TABLE instances;
ALTER TABLE instances_by_kind RENAME TO instances;
CREATE UNIQUE INDEX instances_hash ON instances (hash) WHERE itype <> 'event';
CREATE INDEX instances_event_hash8 ON instances (hash8) WHERE itype = 'event';
