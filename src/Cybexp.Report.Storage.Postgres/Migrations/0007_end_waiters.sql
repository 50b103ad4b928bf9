-- Set by a process that waits for the query's end (HTTP ?wait=, `cybexp-report query`) before it waits; the worker's
-- completion sends the end notification only for such queries. PostgreSQL (up to 16) signals every listening backend
-- of the database for each NOTIFY, and a notifying commit takes a database-wide lock, so a completion nobody waits
-- for sends none. The column is in no index: setting it is a HOT update.
ALTER TABLE queries ADD COLUMN end_waited boolean NOT NULL DEFAULT false;
