-- Every claim gets a lease token no earlier claim had: attempts can go down (release, requeue), claims never does.
ALTER TABLE queries ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
