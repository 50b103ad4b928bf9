-- event_refs as sorted runs (an ingest never inserts at random places in the reference index).
--
-- Before, every ingest transaction inserted its ~150,000 reference rows (40,000 documents) at random places of one
-- B-tree keyed by ref_hash; once the tree outgrew the page cache, a transaction dirtied nearly every leaf page, and
-- each was written whole to the WAL and again at the checkpoint: at 1M events, ≈ 40 % of the ingest's CPU.
--
-- Now the key starts with a run number. A transaction's rows form a new run, numbered above every other, inserted
-- in key order: they are appended at the end of the tree. Runs of similar size are merged into one (again appended,
-- read from the runs in key order), so the number of runs stays logarithmic in the number of rows (see
-- SqliteArchive.Compact). A lookup reads every live run: run IN (SELECT run FROM event_ref_runs) AND ref_hash = ...
-- is one primary-key range per run and org.
CREATE TABLE event_ref_runs (
    run  INTEGER PRIMARY KEY,
    rows INTEGER NOT NULL           -- rows when the run was written (replaced events' deletions do not update it)
);

CREATE TABLE event_refs_runs (
    run       INTEGER NOT NULL,     -- event_ref_runs.run
    ref_hash  BLOB NOT NULL,
    org       INTEGER NOT NULL,     -- event_orgs.id of the event's orgid
    ts        REAL NOT NULL,
    event_seq INTEGER NOT NULL,
    ctx       INTEGER NOT NULL,     -- 0 no context, 1 benign (_ben_ref), 2 malicious (_mal_ref)
    category  INTEGER NOT NULL,     -- the event's category: 0 unknown, 1 benign, 2 malicious
    PRIMARY KEY (run, ref_hash, org, ts, event_seq)
) WITHOUT ROWID;

-- The rows stored so far become run 1.
INSERT INTO event_refs_runs (run, ref_hash, org, ts, event_seq, ctx, category)
SELECT 1, ref_hash, org, ts, event_seq, ctx, category FROM event_refs ORDER BY ref_hash, org, ts, event_seq;
INSERT INTO event_ref_runs (run, rows) SELECT 1, count(*) FROM event_refs_runs HAVING count(*) > 0;

DROP TABLE event_refs;
ALTER TABLE event_refs_runs RENAME TO event_refs;
