-- Documents are stored packed (PackedDocumentText in the application): each quoted lowercase hex hash of the text as
-- its 32 bytes, a hash repeated within the document as its number. An event keeps about half its bytes, and every
-- byte of instances is written twice, to the table and to the WAL.
--
-- cybexp_pack_doc(text) packs a text exactly as the application does; it converts the rows here. cybexp_doc(bytea)
-- gives the text back, for reading the archive by hand:
--     SELECT cybexp_doc(doc) FROM instances WHERE hash = decode('<64 hex digits>', 'hex');

CREATE FUNCTION cybexp_pack_doc(t text) RETURNS bytea LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    parts  text[];
    hashes text[];
    seen   text[] := '{}';
    k      integer;
    result bytea;
BEGIN
    -- A text holding a mark byte itself (never JSON) is stored as it is, after byte 0.
    IF strpos(t, chr(1)) > 0 OR strpos(t, chr(2)) > 0 THEN
        RETURN '\x00'::bytea || convert_to(t, 'UTF8');
    END IF;

    -- The leftmost non-overlapping matches, and the text between them.
    parts := regexp_split_to_array(t, '"[0123456789abcdef]{64}"');
    hashes := ARRAY(SELECT m.match[1] FROM regexp_matches(t, '"([0123456789abcdef]{64})"', 'g') WITH ORDINALITY AS m (match, n) ORDER BY m.n);
    result := '\x01'::bytea || convert_to(parts[1], 'UTF8');
    FOR i IN 1 .. coalesce(array_length(hashes, 1), 0) LOOP
        k := array_position(seen, hashes[i]);
        IF k IS NOT NULL THEN
            result := result || '\x02'::bytea || set_byte('\x00'::bytea, 0, k - 1);
        ELSE
            result := result || '\x01'::bytea || decode(hashes[i], 'hex');
            IF cardinality(seen) < 256 THEN
                seen := array_append(seen, hashes[i]);
            END IF;
        END IF;

        result := result || convert_to(parts[i + 1], 'UTF8');
    END LOOP;

    RETURN result;
END;
$$;

CREATE FUNCTION cybexp_doc(p bytea) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    n      integer := length(p);
    pos    integer := 2;   -- 1-based, as substring counts
    a      integer;
    b      integer;
    m      integer;
    seen   bytea[] := '{}';
    h      bytea;
    result bytea := '';
BEGIN
    IF n = 0 THEN
        RAISE EXCEPTION 'a stored document is empty; a packed document starts with byte 0 or 1';
    END IF;

    IF get_byte(p, 0) = 0 THEN
        RETURN convert_from(substring(p FROM 2), 'UTF8');
    END IF;

    IF get_byte(p, 0) <> 1 THEN
        RAISE EXCEPTION 'a stored document starts with byte %; a packed document starts with byte 0 or 1', get_byte(p, 0);
    END IF;

    WHILE pos <= n LOOP
        -- The next mark: the text between marks never holds a mark byte.
        a := position('\x01'::bytea IN substring(p FROM pos));
        b := position('\x02'::bytea IN substring(p FROM pos));
        m := CASE WHEN a = 0 THEN b WHEN b = 0 THEN a ELSE least(a, b) END;
        IF m = 0 THEN
            result := result || substring(p FROM pos);
            EXIT;
        END IF;

        result := result || substring(p FROM pos FOR m - 1);
        pos := pos + m - 1;
        IF get_byte(p, pos - 1) = 1 THEN
            IF pos + 32 > n THEN
                RAISE EXCEPTION 'a stored document ends inside a hash at byte %', pos - 1;
            END IF;

            h := substring(p FROM pos + 1 FOR 32);
            IF cardinality(seen) < 256 THEN
                seen := array_append(seen, h);
            END IF;

            pos := pos + 33;
        ELSE
            IF pos + 1 > n OR get_byte(p, pos) >= cardinality(seen) THEN
                RAISE EXCEPTION 'a stored document repeats a hash it does not hold at byte %', pos - 1;
            END IF;

            h := seen[get_byte(p, pos) + 1];
            pos := pos + 2;
        END IF;

        result := result || convert_to('"' || encode(h, 'hex') || '"', 'UTF8');
    END LOOP;

    RETURN convert_from(result, 'UTF8');
END;
$$;

-- The application packs the documents before this script runs, in its transaction, into the temporary table
-- cybexp_packed_documents (hash -> packed bytes; PackedDocumentsMigration): cybexp_pack_doc takes about 240 us a
-- document, which made this conversion take 354 s for a 1M-event store. A row the table does not hold is packed here.
-- Without that table (the application does not make it under Citus, whose shards cannot read a temporary table of
-- the coordinator) every row is packed by cybexp_pack_doc.
DO $$
BEGIN
    IF to_regclass('pg_temp.cybexp_packed_documents') IS NULL THEN
        ALTER TABLE instances ALTER COLUMN doc TYPE bytea USING cybexp_pack_doc(doc);
    ELSE
        CREATE FUNCTION pg_temp.cybexp_packed_doc(h bytea) RETURNS bytea LANGUAGE sql STABLE AS
            'SELECT doc FROM pg_temp.cybexp_packed_documents WHERE hash = h';
        ALTER TABLE instances ALTER COLUMN doc TYPE bytea USING coalesce(pg_temp.cybexp_packed_doc(hash), cybexp_pack_doc(doc));
        DROP FUNCTION pg_temp.cybexp_packed_doc(bytea);
    END IF;
END;
$$;
