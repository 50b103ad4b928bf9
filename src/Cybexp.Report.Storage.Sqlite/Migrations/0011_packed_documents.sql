-- Documents are stored packed (PackedDocumentText in the application): each quoted lowercase hex hash of the text as
-- its 32 bytes, a hash repeated within the document as its number; an event keeps about half its bytes.
--
-- cybexp_pack_doc is the application's PackedDocumentText.Pack, registered on the connection that migrates.
--
-- The table is rebuilt (same rows, same seq, doc declared BLOB) rather than updated in place: an UPDATE of every row
-- keeps the old content of each page it changes in a statement journal, which the store keeps in memory
-- (temp_store=MEMORY): 1.3 GB at 1M events. INSERT … SELECT into a new table needs none.
CREATE TABLE instances_packed (
    seq       INTEGER PRIMARY KEY,
    hash      BLOB NOT NULL,
    itype     TEXT NOT NULL,
    sub_type  TEXT NOT NULL,
    doc       BLOB NOT NULL,
    prefix_no INTEGER NOT NULL DEFAULT 0,
    hash8     BLOB GENERATED ALWAYS AS (substr(hash, 1, 8)) VIRTUAL
);

INSERT INTO instances_packed (seq, hash, itype, sub_type, doc, prefix_no)
SELECT seq, hash, itype, sub_type, cybexp_pack_doc(doc), prefix_no FROM instances ORDER BY seq;

DROP TABLE instances;
ALTER TABLE instances_packed RENAME TO instances;
CREATE UNIQUE INDEX instances_hash ON instances (hash) WHERE itype <> 'event';
CREATE UNIQUE INDEX instances_event_hash8 ON instances (hash8, prefix_no) WHERE itype = 'event';
