-- infra_ext 0.3.0: point-in-time recovery. infra_ext itself is the archive module
-- (archive_library = 'infra_ext'); this script adds the readiness check, base backups
-- (pg_basebackup run as a job), the WAL archive's statistics and cleanup, and recovery
-- plans.

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

-- C helpers (src/pg/pitr_sql.cpp, src/pg/wal_monitor.cpp) ---------------------------------
CREATE FUNCTION infra._base_backup_location(id bigint, at timestamptz) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'infra_base_backup_location' LANGUAGE C STRICT VOLATILE;
CREATE FUNCTION infra._wal_archive_scan() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'infra_wal_archive_scan' LANGUAGE C VOLATILE;
CREATE FUNCTION infra._wal_monitor_state() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'infra_wal_monitor_state' LANGUAGE C VOLATILE;
CREATE FUNCTION infra._recovery_plan(target_time timestamptz, base_backup_id bigint) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'infra_recovery_plan' LANGUAGE C VOLATILE;
CREATE FUNCTION infra._cleanup_wal_archive(dry_run boolean, catalog_oldest_start pg_lsn)
RETURNS jsonb AS 'MODULE_PATHNAME', 'infra_cleanup_wal_archive' LANGUAGE C VOLATILE;

-- Base backups ---------------------------------------------------------------------------
ALTER TABLE infra.jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE infra.jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('backup', 'restore', 'verify', 'cleanup', 'base_backup'));

CREATE TABLE infra.base_backups (
    id bigserial PRIMARY KEY,
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired')),
    job_id bigint,
    requested_by name NOT NULL,
    label text NOT NULL,
    format text NOT NULL CHECK (format IN ('plain', 'tar')),
    compression text NOT NULL CHECK (compression IN ('none', 'gzip', 'lz4', 'zstd')),
    path text,
    timeline integer,
    start_lsn pg_lsn,
    stop_lsn pg_lsn,
    start_time timestamptz,
    stop_time timestamptz,
    system_identifier bigint,
    pg_version integer,
    wal_segment_size bigint,
    bytes bigint,
    verified_by text,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    started_at timestamptz,
    finished_at timestamptz,
    expired_at timestamptz,
    error text,
    CHECK (format = 'tar' OR compression = 'none')
);
COMMENT ON TABLE infra.base_backups IS
    'Catalog of base backups (pg_basebackup): where, which WAL range and timeline, verified how; expired ones were removed by retention.';

-- Mirrors a base_backup job's state changes into its catalog row (the job machinery of
-- the backups issue drives infra.jobs; this keeps infra.base_backups in step).
CREATE FUNCTION infra._mirror_base_backup_job() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bb_id bigint := (NEW.params->>'base_backup_id')::bigint;
    info jsonb := NEW.result->'info';
BEGIN
    IF NEW.state = 'running' THEN
        UPDATE infra.base_backups SET status = 'running', started_at = NEW.started_at
         WHERE id = bb_id;
    ELSIF NEW.state = 'succeeded' THEN
        UPDATE infra.base_backups
           SET status = 'succeeded', finished_at = NEW.finished_at, error = NULL,
               path = NEW.result->>'path', bytes = (NEW.result->>'bytes')::bigint,
               timeline = (info->>'timeline')::integer,
               start_lsn = (info->>'start_lsn')::pg_lsn, stop_lsn = (info->>'stop_lsn')::pg_lsn,
               start_time = (info->>'start_time')::timestamptz,
               stop_time = (info->>'stop_time')::timestamptz,
               system_identifier = (info->>'system_identifier')::numeric::bigint,
               pg_version = (info->>'pg_version_num')::integer,
               wal_segment_size = (info->>'wal_segment_size')::bigint,
               verified_by = info->>'verified_by'
         WHERE id = bb_id;
        UPDATE infra.base_backups
           SET status = 'expired', expired_at = NEW.finished_at, path = NULL
         WHERE id IN (SELECT jsonb_array_elements_text(coalesce(NEW.result->'expired', '[]'))::bigint);
    ELSIF NEW.state IN ('failed', 'cancelled') THEN
        UPDATE infra.base_backups
           SET status = NEW.state, finished_at = NEW.finished_at, error = NEW.error
         WHERE id = bb_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER base_backup_job_state AFTER UPDATE OF state ON infra.jobs
    FOR EACH ROW WHEN (NEW.kind = 'base_backup' AND NEW.state IS DISTINCT FROM OLD.state)
    EXECUTE FUNCTION infra._mirror_base_backup_job();

-- Queues one base backup (catalog row + job); returns the job id. Used by
-- create_base_backup() and by the scheduler.
CREATE FUNCTION infra._queue_base_backup(requested_by name) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fmt text := current_setting('infra.base_backup_format');
    comp text := current_setting('infra.base_backup_compression');
    new_id bigint;
    loc jsonb;
    job bigint;
    bb_label text;
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

CREATE FUNCTION infra.create_base_backup(wait boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job bigint := infra._queue_base_backup(infra._caller_role());
BEGIN
    IF wait THEN
        PERFORM infra._run_job_and_wait(job);
    ELSE
        PERFORM infra._wake_launcher_at_commit();
    END IF;
    RETURN (SELECT id FROM infra.base_backups WHERE job_id = job);
END
$$;
COMMENT ON FUNCTION infra.create_base_backup(boolean) IS
    'Queues a pg_basebackup into infra.base_backup_dir, verified and catalogued in infra.base_backups; returns its id. wait => true runs it now and raises its error.';

-- Schedules for base backups and WAL cleanup (seeded disabled: enable them with
-- SELECT infra.set_schedule('weekly_base_backup', NULL, true) once archiving works).
ALTER TABLE infra.schedules DROP CONSTRAINT schedules_action_check;
ALTER TABLE infra.schedules ADD CONSTRAINT schedules_action_check
    CHECK (action IN ('backup daily', 'backup weekly', 'backup monthly', 'cleanup',
                      'verify newest', 'base backup', 'wal cleanup'));

CREATE OR REPLACE FUNCTION infra._run_schedule_action(action text, requested_by name) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ids bigint[];
    newest infra.backups;
    outcome jsonb;
BEGIN
    -- Run by hand (run_schedule), the actions that delete are an administrator's, as
    -- cleanup_backups() and cleanup_wal_archive() are.
    IF action IN ('cleanup', 'wal cleanup') AND requested_by <> 'scheduler'
       AND NOT pg_has_role(requested_by, 'infra_admin', 'MEMBER') THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('permission denied: the %s action needs infra_admin', action),
            HINT = 'Run it as an administrator, or leave it to the scheduler.';
    END IF;
    IF action LIKE 'backup %' THEN
        ids := infra._queue_backups(substr(action, 8), requested_by);
        RETURN (SELECT job_id FROM infra.backups WHERE id = ids[1]);
    ELSIF action = 'cleanup' THEN
        RETURN infra._queue_job('cleanup', current_database(), NULL, '{}', requested_by);
    ELSIF action = 'verify newest' THEN
        SELECT * INTO newest FROM infra.backups WHERE status = 'succeeded'
         ORDER BY finished_at DESC, id DESC LIMIT 1;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        RETURN infra._queue_verify(newest, requested_by);
    ELSIF action = 'base backup' THEN
        RETURN infra._queue_base_backup(requested_by);
    ELSIF action = 'wal cleanup' THEN
        -- Quick (it only removes files): done here, not as a job.
        PERFORM pg_advisory_xact_lock(7471, 3);
        outcome := infra._cleanup_wal_archive(false, (SELECT min(start_lsn) FROM infra.base_backups
                                                       WHERE status = 'succeeded'));
        PERFORM infra._audit('wal_cleanup', 'WAL archive', outcome - 'files');
        RETURN NULL;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'IX000', MESSAGE = format('unknown schedule action %s', action);
END
$$;

INSERT INTO infra.schedules (name, cron, action, enabled) VALUES
    ('weekly_base_backup', '0 4 * * 0', 'base backup', false),
    ('daily_wal_cleanup', '30 4 * * *', 'wal cleanup', false);

-- WAL archive statistics and cleanup ----------------------------------------------------
CREATE FUNCTION infra.wal_archive_stats() RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    archive jsonb := infra._wal_archive_scan();
    monitor jsonb := infra._wal_monitor_state();
    arch record;
    ready bigint;
    bb record;
BEGIN
    SELECT * INTO arch FROM pg_stat_archiver;
    SELECT count(*) INTO ready FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready';
    SELECT count(*) AS retained, max(stop_time) AS newest_stop, min(start_lsn) AS oldest_start
      INTO bb FROM infra.base_backups WHERE status = 'succeeded';
    RETURN jsonb_build_object(
        'archive_dir', archive->'dir',
        'compression', current_setting('infra.wal_compression'),
        'archive', archive - 'dir',
        'archiver', jsonb_build_object(
            'archived_count', arch.archived_count,
            'last_archived_wal', arch.last_archived_wal,
            'last_archived_time', arch.last_archived_time,
            'failed_count', arch.failed_count,
            'last_failed_wal', arch.last_failed_wal,
            'last_failed_time', arch.last_failed_time,
            'last_failure', monitor->'last_failure',
            'failing', arch.last_failed_time IS NOT NULL
                       AND (arch.last_archived_time IS NULL OR arch.last_failed_time > arch.last_archived_time)),
        'rpo_seconds', round(extract(epoch FROM clock_timestamp() - arch.last_archived_time)::numeric, 3),
        'ready_files', ready,
        'gaps', archive->'gaps',
        'timelines', archive->'timelines',
        'base_backups', jsonb_build_object(
            'retained', bb.retained,
            'newest_stop_time', bb.newest_stop,
            'newest_age_seconds', round(extract(epoch FROM clock_timestamp() - bb.newest_stop)::numeric, 3),
            'oldest_start_lsn', bb.oldest_start),
        'monitor_interval_seconds', monitor->'interval_seconds',
        'history', monitor->'history');
END
$$;
COMMENT ON FUNCTION infra.wal_archive_stats() IS
    'The WAL archive: segments, bytes stored and original, oldest/newest, gaps, timelines, free space; the archiver''s counts, last failure and RPO; the WAL monitor''s recent samples.';

CREATE FUNCTION infra.cleanup_wal_archive(dry_run boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    outcome jsonb;
BEGIN
    IF dry_run IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001', MESSAGE = 'dry_run must not be NULL',
            HINT = 'Pass true to see what would be removed, false to remove it.';
    END IF;
    PERFORM pg_advisory_xact_lock(7471, 3);  -- one WAL cleanup at a time
    -- The catalog's succeeded base backups count too: a description that cannot be
    -- read, or a base backup directory changed since, must not let WAL go.
    outcome := infra._cleanup_wal_archive(dry_run, (SELECT min(start_lsn) FROM infra.base_backups
                                                    WHERE status = 'succeeded'));
    PERFORM infra._audit(CASE WHEN dry_run THEN 'wal_cleanup_dry_run' ELSE 'wal_cleanup' END,
                         'WAL archive', outcome - 'files');
    RETURN outcome;
END
$$;
COMMENT ON FUNCTION infra.cleanup_wal_archive(boolean) IS
    'Removes archived WAL older than the start of the oldest retained base backup (never WAL a retained base backup needs); dry_run => true only lists it.';

-- Recovery plans ---------------------------------------------------------------------------
CREATE FUNCTION infra.recovery_plan(target_time timestamptz, base_backup_id bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    plan jsonb := infra._recovery_plan(target_time, base_backup_id);
BEGIN
    PERFORM infra._audit('recovery_plan', 'PITR to ' || target_time,
                         jsonb_build_object('ok', plan->'ok', 'base_backup_id', plan->'base_backup'->'id',
                                            'problems', plan->'problems'));
    RETURN plan;
END
$$;
COMMENT ON FUNCTION infra.recovery_plan(timestamptz, bigint) IS
    'How to recover to target_time: the base backup, the WAL needed and whether the archive has it, the steps and a PostgreSQL 15 shell script.';

-- Privileges ------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION infra._base_backup_location(bigint, timestamptz), infra._wal_archive_scan(),
    infra._queue_base_backup(name), infra._run_schedule_action(text, name),
    infra._wal_monitor_state(), infra._recovery_plan(timestamptz, bigint),
    infra._cleanup_wal_archive(boolean, pg_lsn), infra._mirror_base_backup_job(),
    infra.create_base_backup(boolean), infra.wal_archive_stats(),
    infra.cleanup_wal_archive(boolean), infra.recovery_plan(timestamptz, bigint) FROM PUBLIC;
REVOKE ALL ON infra.base_backups FROM PUBLIC;
GRANT SELECT ON infra.base_backups TO infra_viewer;
GRANT EXECUTE ON FUNCTION infra.wal_archive_stats(), infra.recovery_plan(timestamptz, bigint)
    TO infra_viewer;
GRANT EXECUTE ON FUNCTION infra.create_base_backup(boolean) TO infra_operator;
GRANT EXECUTE ON FUNCTION infra.cleanup_wal_archive(boolean) TO infra_admin;

-- The scheduler's idle cycle must write no WAL: with archive_timeout, WAL written every
-- cycle (0.2.0 locked every schedule row FOR UPDATE each time, which writes a lock
-- record and a commit) made the archive grow by one segment per archive_timeout on an
-- idle server. Rows are now read without a lock, and only a schedule that is due (or
-- whose next_run is stale) is locked and handled.
CREATE OR REPLACE FUNCTION infra._run_due_schedules() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s infra.schedules;
    due timestamptz;
    queued integer := 0;
    job bigint;
    candidate text;
BEGIN
    FOR candidate IN
        SELECT x.name FROM infra.schedules x
         WHERE x.enabled AND x.managed_by = 'infra_ext'
           AND (infra._cron_missed(x.cron, coalesce(x.last_run, x.created_at), clock_timestamp()) IS NOT NULL
                OR x.next_run IS DISTINCT FROM infra._cron_next(x.cron, clock_timestamp()))
         ORDER BY x.name
    LOOP
        SELECT * INTO s FROM infra.schedules x
         WHERE x.name = candidate AND x.enabled AND x.managed_by = 'infra_ext' FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        due := infra._cron_missed(s.cron, coalesce(s.last_run, s.created_at), clock_timestamp());
        IF due IS NOT NULL THEN
            -- A schedule whose action fails is logged and audited, and counts as run: it
            -- must not stop the launcher's other work, nor be retried every second.
            BEGIN
                job := infra._run_schedule_action(s.action, 'scheduler');
                PERFORM infra._audit('schedule_run', s.name,
                                     jsonb_build_object('due', due, 'job_id', job, 'action', s.action));
            EXCEPTION WHEN OTHERS THEN
                job := NULL;
                RAISE WARNING 'infra scheduler: schedule % (%) failed: %', s.name, s.action, SQLERRM;
                PERFORM infra._audit('schedule_failed', s.name,
                                     jsonb_build_object('due', due, 'action', s.action, 'error', SQLERRM));
            END;
            UPDATE infra.schedules SET last_run = clock_timestamp(), last_job_id = job,
                                       next_run = infra._cron_next(cron, clock_timestamp())
             WHERE name = s.name;
            queued := queued + 1;
        ELSE
            UPDATE infra.schedules SET next_run = infra._cron_next(cron, clock_timestamp())
             WHERE name = s.name AND next_run IS DISTINCT FROM infra._cron_next(cron, clock_timestamp());
        END IF;
    END LOOP;
    RETURN queued;
END
$$;
REVOKE ALL ON FUNCTION infra._run_due_schedules() FROM PUBLIC;
