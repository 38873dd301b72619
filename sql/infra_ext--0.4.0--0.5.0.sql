-- infra_ext 0.5.0: base-backup ids stay unique across a DROP/CREATE EXTENSION. The
-- catalog's sequence restarts with the extension, but the base backups in
-- infra.base_backup_dir stay, named and described by their ids; a new one must not get
-- an id an existing one has (infra_ext_ctl restore --base-backup ID picks by id).

\echo Use "ALTER EXTENSION infra_ext UPDATE TO '0.5.0'" to load this file. \quit

-- The highest base-backup id in infra.base_backup_dir (from the directory names
-- "<id>-<time>", including ".<id>-<time>.partial" and ".expired" leftovers), 0 if none.
CREATE FUNCTION infra._highest_base_backup_id_on_disk() RETURNS bigint
    AS 'MODULE_PATHNAME', 'infra_highest_base_backup_id_on_disk' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION infra._highest_base_backup_id_on_disk() FROM PUBLIC;

-- Queues one base backup (catalog row + job); returns the job id. As in 0.3.0, plus the
-- id check above.
CREATE OR REPLACE FUNCTION infra._queue_base_backup(requested_by name) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fmt text := current_setting('infra.base_backup_format');
    comp text := current_setting('infra.base_backup_compression');
    new_id bigint;
    loc jsonb;
    job bigint;
    bb_label text;
    on_disk bigint;
    seq regclass := pg_get_serial_sequence('infra.base_backups', 'id')::regclass;
    next_id bigint;
BEGIN
    IF fmt = 'plain' AND comp <> 'none' THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('infra.base_backup_compression = %s needs infra.base_backup_format = tar', comp),
            HINT = 'Set infra.base_backup_format = ''tar'' (or the compression to none) and reload.';
    END IF;
    IF current_setting('wal_level') = 'minimal' OR current_setting('max_wal_senders')::int < 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('pg_basebackup cannot run: wal_level = %s, max_wal_senders = %s',
                             current_setting('wal_level'), current_setting('max_wal_senders')),
            HINT = 'It needs wal_level = replica and max_wal_senders >= 2; SELECT infra.pitr_config() shows the statements that fix it.';
    END IF;
    -- Ids continue past every base backup in infra.base_backup_dir, also those of an
    -- earlier installation of the extension (DROP/CREATE EXTENSION restarts the
    -- sequence): an id names one base backup, in SQL and for infra_ext_ctl alike.
    on_disk := infra._highest_base_backup_id_on_disk();
    SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END
      INTO next_id FROM infra.base_backups_id_seq;
    IF on_disk >= next_id THEN
        PERFORM setval(seq, on_disk, true);
    END IF;
    INSERT INTO infra.base_backups (requested_by, label, format, compression)
    VALUES (requested_by, 'infra_ext base backup', fmt, comp) RETURNING id INTO new_id;
    bb_label := 'infra_ext base backup ' || new_id;
    loc := infra._base_backup_location(new_id, clock_timestamp());
    job := infra._queue_job('base_backup', NULL, NULL,
                            jsonb_build_object('base_backup_id', new_id, 'label', bb_label,
                                               'root', loc->>'root', 'path', loc->>'path',
                                               'partial_dir', loc->>'partial', 'format', fmt,
                                               'compression', comp,
                                               'retention', current_setting('infra.base_backup_retention')::int,
                                               'max_rate_kb', (SELECT setting::int FROM pg_settings
                                                                WHERE name = 'infra.base_backup_max_rate')),
                            requested_by);
    UPDATE infra.base_backups SET job_id = job, label = bb_label WHERE id = new_id;
    PERFORM infra._audit('base_backup_request', 'base backup ' || new_id,
                         jsonb_build_object('job_id', job, 'format', fmt, 'compression', comp,
                                            'path', loc->>'path'));
    RETURN job;
END
$$;
