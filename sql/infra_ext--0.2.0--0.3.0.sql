-- infra_ext 0.3.0: point-in-time recovery, first part — the readiness check of WAL
-- archiving (infra_ext itself is the archive module: archive_library = 'infra_ext').

\echo Use "ALTER EXTENSION infra_ext UPDATE TO '0.3.0'" to load this file. \quit

-- The settings WAL archiving depends on, whether they are right, and for each problem
-- the statement that fixes it and whether a restart is needed.
CREATE FUNCTION infra.pitr_config() RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    problems jsonb := '[]';
    advice jsonb := '[]';
    archive_dir text := coalesce(nullif(current_setting('infra.wal_archive_dir'), ''),
                                 regexp_replace(current_setting('data_directory'), '/[^/]+/?$', '')
                                     || '/infra_wal_archive');
    dir_state record;
    arch record;
    settings jsonb;
BEGIN
    SELECT jsonb_object_agg(name, jsonb_build_object('value', setting, 'unit', unit,
                                                     'pending_restart', pending_restart))
      INTO settings
      FROM pg_settings
     WHERE name IN ('wal_level', 'archive_mode', 'archive_library', 'archive_command',
                    'archive_timeout', 'max_wal_senders', 'wal_keep_size',
                    'infra.wal_archive_dir', 'infra.wal_compression');

    IF current_setting('wal_level') = 'minimal' THEN
        problems := problems || jsonb_build_object(
            'setting', 'wal_level', 'current', current_setting('wal_level'), 'wanted', 'replica',
            'fix', 'ALTER SYSTEM SET wal_level = ''replica'';', 'restart_needed', true,
            'why', 'minimal WAL cannot be archived or replayed from a base backup');
    END IF;
    IF current_setting('archive_mode') = 'off' THEN
        problems := problems || jsonb_build_object(
            'setting', 'archive_mode', 'current', 'off', 'wanted', 'on',
            'fix', 'ALTER SYSTEM SET archive_mode = ''on'';', 'restart_needed', true,
            'why', 'no WAL is archived while archive_mode is off');
    END IF;
    IF current_setting('archive_library') <> 'infra_ext' THEN
        problems := problems || jsonb_build_object(
            'setting', 'archive_library', 'current', current_setting('archive_library'),
            'wanted', 'infra_ext',
            'fix', 'ALTER SYSTEM SET archive_library = ''infra_ext''; SELECT pg_reload_conf();',
            'restart_needed', false,
            'why', 'infra_ext archives WAL (durably, checksummed) only as the archive module');
    ELSIF current_setting('archive_command') <> '' THEN
        advice := advice || jsonb_build_object(
            'setting', 'archive_command', 'current', current_setting('archive_command'),
            'wanted', '',
            'fix', 'ALTER SYSTEM RESET archive_command; SELECT pg_reload_conf();',
            'restart_needed', false,
            'why', 'PostgreSQL 15 ignores archive_command while archive_library is set');
    END IF;
    IF current_setting('max_wal_senders')::int < 2 THEN
        problems := problems || jsonb_build_object(
            'setting', 'max_wal_senders', 'current', current_setting('max_wal_senders'),
            'wanted', '2 or more',
            'fix', 'ALTER SYSTEM SET max_wal_senders = 10;', 'restart_needed', true,
            'why', 'pg_basebackup -X stream needs two replication connections');
    END IF;
    IF current_setting('archive_timeout') = '0' THEN
        advice := advice || jsonb_build_object(
            'setting', 'archive_timeout', 'current', '0', 'wanted', '60s',
            'fix', 'ALTER SYSTEM SET archive_timeout = ''60s''; SELECT pg_reload_conf();',
            'restart_needed', false,
            'why', 'without it, a quiet server may leave minutes of commits unarchived (the RPO is unbounded)');
    END IF;

    SELECT * INTO dir_state FROM pg_stat_file(archive_dir, true);
    IF dir_state.size IS NULL THEN
        problems := problems || jsonb_build_object(
            'setting', 'infra.wal_archive_dir', 'current', archive_dir, 'wanted', 'an existing directory',
            'fix', CASE WHEN current_setting('infra.wal_archive_dir') = ''
                        THEN 'nothing: the default directory is created by the first archived segment'
                        ELSE format('mkdir -m 700 %s && chown postgres: %s', archive_dir, archive_dir) END,
            'restart_needed', false,
            'why', 'the archive directory does not exist');
    ELSIF NOT dir_state.isdir THEN
        problems := problems || jsonb_build_object(
            'setting', 'infra.wal_archive_dir', 'current', archive_dir, 'wanted', 'a directory',
            'fix', 'point infra.wal_archive_dir at a directory', 'restart_needed', false,
            'why', 'the archive path is not a directory');
    END IF;

    SELECT * INTO arch FROM pg_stat_archiver;
    IF arch.last_failed_time IS NOT NULL
       AND (arch.last_archived_time IS NULL OR arch.last_failed_time > arch.last_archived_time) THEN
        problems := problems || jsonb_build_object(
            'setting', 'archiver', 'current', format('failing since %s on %s', arch.last_failed_time, arch.last_failed_wal),
            'wanted', 'archiving', 'fix', 'see the server log (WARNING: infra_ext could not archive ...)',
            'restart_needed', false, 'why', 'the last archiving attempt failed');
    END IF;

    RETURN jsonb_build_object(
        'ready', jsonb_array_length(problems) = 0,
        'restart_needed', EXISTS (SELECT 1 FROM jsonb_array_elements(problems) p
                                   WHERE (p->>'restart_needed')::boolean),
        'problems', problems,
        'advice', advice,
        'archive_dir', archive_dir,
        'settings', settings,
        'archiver', jsonb_build_object('archived_count', arch.archived_count,
                                       'last_archived_wal', arch.last_archived_wal,
                                       'last_archived_time', arch.last_archived_time,
                                       'failed_count', arch.failed_count,
                                       'last_failed_wal', arch.last_failed_wal,
                                       'last_failed_time', arch.last_failed_time));
END
$$;
COMMENT ON FUNCTION infra.pitr_config() IS
    'Whether WAL archiving through infra_ext is ready; for each problem the statement that fixes it and whether a restart is needed.';

REVOKE ALL ON FUNCTION infra.pitr_config() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION infra.pitr_config() TO infra_viewer;
