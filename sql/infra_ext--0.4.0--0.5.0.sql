-- infra_ext 0.5.0: base-backup ids stay unique across a DROP/CREATE EXTENSION. The
-- catalog's sequence restarts with the extension, but the base backups in
-- infra.base_backup_dir stay, named and described by their ids; a new one must not get
-- an id an existing one has (infra_ext_ctl restore --base-backup ID picks by id).

\echo Use "ALTER EXTENSION infra_ext UPDATE TO '0.5.0'" to load this file. \quit

-- The highest base-backup id in infra.base_backup_dir (from the directory names
-- "<id>-<time>", including ".<id>-<time>.partial" and ".expired" leftovers, and from
-- the descriptions), 0 if none.
CREATE FUNCTION infra._highest_base_backup_id_on_disk() RETURNS bigint
    AS 'MODULE_PATHNAME', 'infra_highest_base_backup_id_on_disk' LANGUAGE C VOLATILE;

-- The id of a new infra.base_backups row: the sequence's next value, moved past every id
-- on disk first. Taken under an advisory lock (held only while the sequence is read and
-- moved, released on error or cancel too), so that two base backups queued at once
-- cannot both move the sequence back to the same place.
CREATE FUNCTION infra._next_base_backup_id() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    lock_key constant bigint := hashtext('infra_ext: next base backup id');
    on_disk bigint;
    next_id bigint;
BEGIN
    PERFORM pg_advisory_lock(lock_key);
    BEGIN
        on_disk := infra._highest_base_backup_id_on_disk();
        next_id := nextval('infra.base_backups_id_seq');
        IF next_id <= on_disk THEN
            PERFORM setval('infra.base_backups_id_seq', on_disk, true);
            next_id := nextval('infra.base_backups_id_seq');
        END IF;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM pg_advisory_unlock(lock_key);
        RAISE;
    END;
    PERFORM pg_advisory_unlock(lock_key);
    RETURN next_id;
END
$$;
ALTER TABLE infra.base_backups ALTER COLUMN id SET DEFAULT infra._next_base_backup_id();

REVOKE ALL ON FUNCTION infra._highest_base_backup_id_on_disk(), infra._next_base_backup_id()
    FROM PUBLIC;
