-- The sorted runs of event_refs (0007) live in two tables, so that SQLite merges runs by itself.
--
-- A merge reads runs in key order and appends the merged run. Done as one INSERT ... SELECT, SQLite merges the runs'
-- key ranges without a sort and without a row crossing to the application; but an INSERT ... SELECT that reads the
-- table it writes first copies every row it reads into a temporary table. So a merge reads runs of one table and
-- writes the other (see SqliteArchive.Merge). Readers see both tables as the view event_refs; SQLite pushes a
-- lookup's conditions into each table's part, so it stays one primary-key range per run and org.
ALTER TABLE event_ref_runs ADD COLUMN tab INTEGER NOT NULL DEFAULT 0;   -- the table holding the run: event_refs_<tab>

ALTER TABLE event_refs RENAME TO event_refs_0;

CREATE TABLE event_refs_1 (
    run       INTEGER NOT NULL,     -- event_ref_runs.run
    ref_hash  BLOB NOT NULL,
    org       INTEGER NOT NULL,     -- event_orgs.id of the event's orgid
    ts        REAL NOT NULL,
    event_seq INTEGER NOT NULL,
    ctx       INTEGER NOT NULL,     -- 0 no context, 1 benign (_ben_ref), 2 malicious (_mal_ref)
    category  INTEGER NOT NULL,     -- the event's category: 0 unknown, 1 benign, 2 malicious
    PRIMARY KEY (run, ref_hash, org, ts, event_seq)
) WITHOUT ROWID;

CREATE VIEW event_refs AS
SELECT run, ref_hash, org, ts, event_seq, ctx, category FROM event_refs_0
UNION ALL
SELECT run, ref_hash, org, ts, event_seq, ctx, category FROM event_refs_1;
