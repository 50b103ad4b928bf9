-- instances.seq without AUTOINCREMENT. With it, SQLite reads and rewrites the instances row of sqlite_sequence at the
-- end of every INSERT statement, and an ingest inserts each document with a statement of its own: about 5 % of a
-- 1M-event ingest (bench/results/ingest.md). Without it a new row takes max(seq) + 1, which is the same number as long as
-- no instance is ever deleted (the archive deletes none), so seq values, and the events and reference rows that hold
-- them, mean what they meant.
--
-- SQLite cannot drop AUTOINCREMENT from a table: it is rebuilt (same columns, same rows, same seq).
CREATE TABLE instances_plain (
    seq      INTEGER PRIMARY KEY,
    hash     BLOB NOT NULL UNIQUE,
    itype    TEXT NOT NULL,
    sub_type TEXT NOT NULL,
    doc      TEXT NOT NULL
);
INSERT INTO instances_plain (seq, hash, itype, sub_type, doc)
SELECT seq, hash, itype, sub_type, doc FROM instances ORDER BY seq;

DROP TABLE instances;
ALTER TABLE instances_plain RENAME TO instances;
DELETE FROM sqlite_sequence WHERE name IN ('instances', 'instances_plain');
