-- events loses its secondary index (org, seq), as the SQLite store's events did in its 0006: no lookup uses it. The
-- graph stream (events of the visible orgs in seq order) reads most of the table and is planned as a sequential scan
-- and a sort, and every other lookup of events is by hash. An ingest wrote one entry of it per event (one index insert
-- and its WAL per event, for nothing).
DROP INDEX IF EXISTS events_org_seq;
