-- infra_ext 0.2.0: automated logical backups — jobs, schedules, catalog, retention,
-- restore and verification.
--
-- Division of labour: these SQL functions check input, write the catalog and the audit
-- log; C functions (src/pg/jobs_*.cpp) compute cron times and retention plans with the
-- core code, run each job in its own background worker, and report the outcome, which
-- infra._record_job_outcome() writes. See docs/backups.md for the job state machine and
-- the file layout.

\echo Use "ALTER EXTENSION infra_ext UPDATE TO '0.2.0'" to load this file. \quit

-- C helpers -----------------------------------------------------------------------------
CREATE FUNCTION infra._cron_next(cron text, after timestamptz) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'infra_cron_next' LANGUAGE C STABLE STRICT;
CREATE FUNCTION infra._cron_missed(cron text, since timestamptz, now timestamptz)
    RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'infra_cron_missed' LANGUAGE C STABLE STRICT;
CREATE FUNCTION infra._cron_canonical(cron text) RETURNS text
    AS 'MODULE_PATHNAME', 'infra_cron_canonical' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION infra._check_job_transition(from_state text, to_state text) RETURNS void
    AS 'MODULE_PATHNAME', 'infra_check_job_transition' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION infra._backup_location(kind text, id bigint, database name, at timestamptz)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'infra_backup_location' LANGUAGE C STABLE STRICT;
CREATE FUNCTION infra._execute_job(job_id bigint, kind text, database name, params jsonb)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'infra_execute_job' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION infra._signal_job(job_id bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'infra_signal_job' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION infra._running_jobs() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'infra_running_jobs' LANGUAGE C VOLATILE;
CREATE FUNCTION infra._wake_launcher_at_commit() RETURNS void
    AS 'MODULE_PATHNAME', 'infra_wake_launcher_at_commit' LANGUAGE C VOLATILE;
CREATE FUNCTION infra._plan_retention(ids bigint[], kinds text[], statuses text[],
                                      finished timestamptz[], keep_daily integer,
                                      keep_weekly integer, keep_monthly integer)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'infra_plan_retention' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION infra._remove_backup_files(path text) RETURNS text
    AS 'MODULE_PATHNAME', 'infra_remove_backup_files' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION infra._backup_dir_entries() RETURNS text[]
    AS 'MODULE_PATHNAME', 'infra_backup_dir_entries' LANGUAGE C VOLATILE;
CREATE FUNCTION infra._resolve_backup_path(path text) RETURNS text
    AS 'MODULE_PATHNAME', 'infra_resolve_backup_path' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION infra._read_backup_manifest(path text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'infra_read_backup_manifest' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION infra._backup_dir_space() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'infra_backup_dir_space' LANGUAGE C VOLATILE;

-- Jobs ----------------------------------------------------------------------------------
CREATE TABLE infra.jobs (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('backup', 'restore', 'verify', 'cleanup')),
    state text NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    requested_by name NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    started_at timestamptz,
    finished_at timestamptz,
    progress_bytes bigint NOT NULL DEFAULT 0,
    database name,
    backup_id bigint,
    params jsonb NOT NULL DEFAULT '{}',
    result jsonb,
    error text,
    CHECK ((state IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);
CREATE INDEX jobs_active ON infra.jobs (id) WHERE state IN ('queued', 'running');
COMMENT ON TABLE infra.jobs IS
    'Every backup, restore, verification and cleanup: queued -> running -> succeeded | failed | cancelled.';

-- The state machine is the core's (core::next_state): every state change is checked.
CREATE FUNCTION infra._job_state_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state THEN
        PERFORM infra._check_job_transition(OLD.state, NEW.state);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER job_state_machine BEFORE UPDATE OF state ON infra.jobs
    FOR EACH ROW EXECUTE FUNCTION infra._job_state_guard();

-- Backups -------------------------------------------------------------------------------
CREATE TABLE infra.backups (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('daily', 'weekly', 'monthly', 'manual')),
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    database name NOT NULL,
    format text NOT NULL CHECK (format IN ('custom', 'directory')),
    path text,
    bytes bigint,
    sha256 text,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    started_at timestamptz,
    finished_at timestamptz,
    manifest jsonb,
    verified_at timestamptz,
    verify_result jsonb,
    error text,
    -- No foreign key to infra.jobs on purpose: both tables' data is dumped as extension
    -- configuration, and `pg_restore -j` loads them in either order against a foreign
    -- key that CREATE EXTENSION already made, which fails at random.
    job_id bigint
);
CREATE INDEX backups_kind_finished ON infra.backups (kind, finished_at);
COMMENT ON TABLE infra.backups IS
    'Catalog of logical backups: one row per database dump, its directory, checksums and manifest.';

-- Schedules -----------------------------------------------------------------------------
CREATE TABLE infra.schedules (
    name text PRIMARY KEY,
    cron text NOT NULL,
    action text NOT NULL
        CHECK (action IN ('backup daily', 'backup weekly', 'backup monthly', 'cleanup',
                          'verify newest')),
    enabled boolean NOT NULL DEFAULT true,
    managed_by text NOT NULL DEFAULT 'infra_ext' CHECK (managed_by IN ('infra_ext', 'pg_cron')),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    last_run timestamptz,
    last_job_id bigint,
    next_run timestamptz
);
COMMENT ON TABLE infra.schedules IS
    'When the launcher queues backups, cleanups and verifications (cron in infra.schedule_timezone).';

INSERT INTO infra.schedules (name, cron, action) VALUES
    ('daily_backup', '0 3 * * *', 'backup daily'),
    ('weekly_backup', '0 2 * * 0', 'backup weekly'),
    ('monthly_backup', '0 1 1 * *', 'backup monthly'),
    ('cleanup', '0 2 * * *', 'cleanup'),
    ('weekly_verify', '0 5 * * 0', 'verify newest');
UPDATE infra.schedules SET next_run = infra._cron_next(cron, now());

SELECT pg_catalog.pg_extension_config_dump('infra.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('infra.jobs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('infra.backups', '');
SELECT pg_catalog.pg_extension_config_dump('infra.backups_id_seq', '');

-- Input checks --------------------------------------------------------------------------
CREATE FUNCTION infra._checked_backup_kind(kind text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF kind IS NULL OR kind NOT IN ('daily', 'weekly', 'monthly', 'manual') THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('invalid backup kind %s', coalesce(quote_literal(kind), 'NULL')),
            HINT = 'Use one of: daily, weekly, monthly, manual.';
    END IF;
    RETURN kind;
END
$$;

-- The databases a backup covers: infra.backup_databases, or the one infra_ext lives in.
CREATE FUNCTION infra._backup_databases() RETURNS name[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    listed text[];
    db text;
    result name[] := '{}';
BEGIN
    SELECT array_agg(btrim(x)) INTO listed
      FROM unnest(string_to_array(current_setting('infra.backup_databases'), ',')) x
     WHERE btrim(x) <> '';
    IF listed IS NULL THEN
        RETURN ARRAY[current_database()::name];
    END IF;
    FOREACH db IN ARRAY listed LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_database d WHERE d.datname = db) THEN
            RAISE EXCEPTION USING ERRCODE = 'IX001',
                MESSAGE = format('database %I in infra.backup_databases does not exist', db),
                HINT = 'Fix infra.backup_databases (a comma-separated list) and reload.';
        END IF;
        IF NOT db = ANY (result) THEN
            result := result || db::name;
        END IF;
    END LOOP;
    RETURN result;
END
$$;

CREATE FUNCTION infra._job_by_id(job_id bigint) RETURNS infra.jobs
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    j infra.jobs;
BEGIN
    SELECT * INTO j FROM infra.jobs WHERE id = job_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001', MESSAGE = format('job %s does not exist', job_id),
            HINT = 'See SELECT * FROM infra.jobs ORDER BY id DESC.';
    END IF;
    RETURN j;
END
$$;

CREATE FUNCTION infra._backup_by_id(backup_id bigint) RETURNS infra.backups
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    b infra.backups;
BEGIN
    SELECT * INTO b FROM infra.backups WHERE id = backup_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('backup %s does not exist', coalesce(backup_id::text, 'NULL')),
            HINT = 'See SELECT id, kind, status, finished_at FROM infra.backups ORDER BY id DESC.';
    END IF;
    RETURN b;
END
$$;

CREATE FUNCTION infra._restorable_backup(backup_id bigint) RETURNS infra.backups
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    b infra.backups := infra._backup_by_id(backup_id);
BEGIN
    IF b.status <> 'succeeded' THEN
        RAISE EXCEPTION USING ERRCODE = 'IX004',
            MESSAGE = format('backup %s is %s, not succeeded: there is nothing to restore from it',
                             b.id, b.status),
            HINT = 'Pick a succeeded backup.';
    END IF;
    RETURN b;
END
$$;

-- What pg_restore is given: the dump file (custom format) or the dump's directory
-- (directory format), i.e. the first path component of the manifest's first file.
CREATE FUNCTION infra._dump_entry(b infra.backups) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT b.path || '/' || split_part(b.manifest->'files'->0->>'name', '/', 1);
$$;

-- Job life cycle (called by the SQL functions below and by the launcher) ----------------

-- queued -> running
CREATE FUNCTION infra._record_job_start(job_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    j infra.jobs;
BEGIN
    UPDATE infra.jobs SET state = 'running', started_at = clock_timestamp()
     WHERE id = job_id RETURNING * INTO j;
    IF j.kind = 'backup' THEN
        UPDATE infra.backups SET status = 'running', started_at = j.started_at
         WHERE id = j.backup_id;
    END IF;
    PERFORM infra._audit('job_start', j.kind || ' job ' || j.id,
                         jsonb_build_object('database', j.database, 'backup_id', j.backup_id));
END
$$;

-- running -> succeeded | failed | cancelled, with the worker's report.
CREATE FUNCTION infra._record_job_outcome(job_id bigint, outcome jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    j infra.jobs := infra._job_by_id(job_id);
    new_state text := outcome->>'state';
    why text := outcome->>'error';
    m jsonb;
BEGIN
    IF new_state NOT IN ('succeeded', 'failed', 'cancelled') THEN
        new_state := 'failed';
        why := coalesce(why, 'the job reported no outcome');
    END IF;
    -- A job that failed or was cancelled leaves nothing that looks like a backup. (Its
    -- worker removes its .partial directory itself; this covers a worker that died.
    -- The final directory is never removed here: after a database was restored from a
    -- backup, its catalog shows that very backup as running.)
    IF new_state <> 'succeeded' AND j.params ? 'partial' THEN
        BEGIN
            PERFORM infra._remove_backup_files(j.params->>'partial');
        EXCEPTION WHEN OTHERS THEN  -- e.g. infra.backup_dir changed meanwhile
            RAISE WARNING 'infra: could not remove % of job %: %', j.params->>'partial', j.id, SQLERRM;
        END;
    END IF;
    IF j.state = 'queued' THEN
        PERFORM infra._record_job_start(j.id);
    END IF;
    IF j.kind = 'backup' AND new_state = 'succeeded' THEN
        BEGIN
            m := infra._read_backup_manifest(j.params->>'path');
        EXCEPTION WHEN OTHERS THEN
            new_state := 'failed';
            why := 'the backup''s manifest cannot be read: ' || SQLERRM;
        END;
    END IF;
    UPDATE infra.jobs
       SET state = new_state, finished_at = clock_timestamp(), error = why,
           result = outcome - 'state' - 'error',
           progress_bytes = coalesce((outcome->>'bytes')::bigint, progress_bytes)
     WHERE id = j.id RETURNING * INTO j;
    IF j.kind = 'backup' THEN
        UPDATE infra.backups
           SET status = new_state, finished_at = j.finished_at, error = why,
               path = CASE WHEN new_state = 'succeeded' THEN j.params->>'path' END,
               bytes = (outcome->>'bytes')::bigint, sha256 = outcome->>'sha256', manifest = m
         WHERE id = j.backup_id;
    ELSIF j.kind = 'verify' AND outcome ? 'verification' THEN
        UPDATE infra.backups
           SET verified_at = j.finished_at, verify_result = outcome->'verification'
         WHERE id = j.backup_id;
    END IF;
    PERFORM infra._audit('job_' || new_state, j.kind || ' job ' || j.id,
                         jsonb_build_object('database', j.database, 'backup_id', j.backup_id,
                                            'error', why,
                                            'seconds', round(extract(epoch FROM j.finished_at - j.started_at)::numeric, 3),
                                            'bytes', outcome->'bytes'));
END
$$;

-- Runs a job in this session's transaction: claims a job slot, starts the worker, waits.
-- Raises the job's error when it did not succeed (the caller's transaction rolls back).
CREATE FUNCTION infra._run_job_and_wait(job_id bigint) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    j infra.jobs := infra._job_by_id(job_id);
    outcome jsonb;
BEGIN
    PERFORM infra._record_job_start(j.id);
    outcome := infra._execute_job(j.id, j.kind, coalesce(j.database, current_database()), j.params);
    PERFORM infra._record_job_outcome(j.id, outcome);
    IF outcome->>'state' IS DISTINCT FROM 'succeeded' THEN
        RAISE EXCEPTION USING ERRCODE = 'IX000',
            MESSAGE = format('%s job %s %s: %s', j.kind, j.id,
                             coalesce(outcome->>'state', 'failed'),
                             coalesce(outcome->>'error', 'no reason reported')),
            HINT = 'The job ran in this transaction, which now rolls back; the server log has the details.';
    END IF;
    RETURN outcome;
END
$$;

CREATE FUNCTION infra._queue_job(kind text, database name, backup_id bigint, params jsonb,
                                 requested_by name)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id bigint;
BEGIN
    INSERT INTO infra.jobs (kind, database, backup_id, params, requested_by)
    VALUES (kind, database, backup_id, params, requested_by) RETURNING id INTO new_id;
    RETURN new_id;
END
$$;

-- Backups -------------------------------------------------------------------------------
CREATE FUNCTION infra._queue_backups(kind text, requested_by name) RETURNS bigint[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    db name;
    fmt text := current_setting('infra.backup_format');
    new_backup bigint;
    new_job bigint;
    at timestamptz := clock_timestamp();
    location jsonb;
    ids bigint[] := '{}';
BEGIN
    kind := infra._checked_backup_kind(kind);
    FOREACH db IN ARRAY infra._backup_databases() LOOP
        INSERT INTO infra.backups (kind, database, format, created_at)
        VALUES (kind, db, fmt, at) RETURNING id INTO new_backup;
        location := infra._backup_location(kind, new_backup, db, at);
        new_job := infra._queue_job('backup', db, new_backup,
                                    location || jsonb_build_object(
                                        'backup_id', new_backup, 'kind', kind, 'format', fmt,
                                        'jobs', current_setting('infra.backup_jobs')::int),
                                    requested_by);
        UPDATE infra.backups SET job_id = new_job WHERE id = new_backup;
        PERFORM infra._audit('backup_queued', 'backup ' || new_backup,
                             jsonb_build_object('kind', kind, 'database', db, 'job_id', new_job,
                                                'path', location->>'path'));
        ids := ids || new_backup;
    END LOOP;
    RETURN ids;
END
$$;

CREATE FUNCTION infra.create_backup(kind text DEFAULT 'manual', wait boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ids bigint[] := infra._queue_backups(kind, infra._caller_role());
    b bigint;
BEGIN
    IF wait THEN
        FOREACH b IN ARRAY ids LOOP
            PERFORM infra._run_job_and_wait((SELECT job_id FROM infra.backups WHERE id = b));
        END LOOP;
    ELSE
        PERFORM infra._wake_launcher_at_commit();
    END IF;
    RETURN ids[1];
END
$$;
COMMENT ON FUNCTION infra.create_backup(text, boolean) IS
    'Queues a pg_dump -Fc backup of each database in infra.backup_databases; returns the (first) backup id. wait => true runs it now and raises its error.';

-- Restore -------------------------------------------------------------------------------
CREATE FUNCTION infra._restore_job(b infra.backups, target_database name, wait boolean,
                                   replace boolean)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    others text;
    exists_already boolean;
    new_job bigint;
    dump_path text;
BEGIN
    IF target_database IS NULL OR target_database = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001', MESSAGE = 'target_database must be given';
    END IF;
    IF target_database IN ('template0', 'template1', 'postgres', current_database()) THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('refusing to restore into %I', target_database),
            HINT = 'Restore into a new database (or one you may replace), not a template, postgres or the database infra_ext runs in.';
    END IF;
    exists_already := EXISTS (SELECT 1 FROM pg_database WHERE datname = target_database);
    IF exists_already AND NOT replace THEN
        RAISE EXCEPTION USING ERRCODE = 'IX004',
            MESSAGE = format('database %I already exists', target_database),
            HINT = 'Pick a new name, or pass replace => true to replace it (it must have no connections).';
    END IF;
    IF exists_already THEN
        SELECT string_agg(format('pid %s (%s, %s, %s)', pid, usename,
                                 coalesce(nullif(application_name, ''), 'no application name'),
                                 coalesce(host(client_addr), 'local')), ', ' ORDER BY pid)
          INTO others
          FROM pg_stat_activity WHERE datname = target_database;
        IF others IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'IX004',
                MESSAGE = format('database %I has other connections: %s', target_database, others),
                HINT = 'Close them (or pg_terminate_backend them) and try again.';
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM infra.jobs j WHERE j.kind = 'restore' AND j.state IN ('queued', 'running')
                 AND j.params->>'target' = target_database) THEN
        RAISE EXCEPTION USING ERRCODE = 'IX004',
            MESSAGE = format('a restore into %I is already queued or running', target_database),
            HINT = 'Wait for it (SELECT * FROM infra.jobs) or cancel it with infra.cancel_job().';
    END IF;
    dump_path := infra._dump_entry(b);
    new_job := infra._queue_job('restore', target_database, b.id,
        jsonb_build_object(
            'backup_id', b.id, 'dump', dump_path, 'format', b.format,
            'target', target_database, 'replace', exists_already,
            'jobs', greatest(2, current_setting('infra.backup_jobs')::int),
            'create_sql', format('CREATE DATABASE %I TEMPLATE template0', 'infra_restore_' || b.id || '_' || txid_current()),
            'work_db', 'infra_restore_' || b.id || '_' || txid_current(),
            'drop_work_sql', format('DROP DATABASE IF EXISTS %I', 'infra_restore_' || b.id || '_' || txid_current()),
            'retire_sql', format('ALTER DATABASE %I RENAME TO %I', target_database,
                                 'infra_replaced_' || b.id || '_' || txid_current()),
            'unretire_sql', format('ALTER DATABASE %I RENAME TO %I',
                                   'infra_replaced_' || b.id || '_' || txid_current(), target_database),
            'install_sql', format('ALTER DATABASE %I RENAME TO %I',
                                  'infra_restore_' || b.id || '_' || txid_current(), target_database),
            'drop_retired_sql', format('DROP DATABASE IF EXISTS %I',
                                       'infra_replaced_' || b.id || '_' || txid_current())),
        infra._caller_role());
    PERFORM infra._audit('restore_queued', target_database,
                         jsonb_build_object('backup_id', b.id, 'job_id', new_job,
                                            'replace', exists_already));
    IF wait THEN
        PERFORM infra._run_job_and_wait(new_job);
    ELSE
        PERFORM infra._wake_launcher_at_commit();
    END IF;
    RETURN new_job;
END
$$;

CREATE FUNCTION infra.restore_backup(backup_id bigint, target_database name,
                                     wait boolean DEFAULT false, replace boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN infra._restore_job(infra._restorable_backup(backup_id), target_database, wait, replace);
END
$$;
COMMENT ON FUNCTION infra.restore_backup(bigint, name, boolean, boolean) IS
    'Restores a backup into a new database (template0, pg_restore -j, ANALYZE); returns the job id.';

-- The seed's restore-by-path: only the dump file of a catalogued backup inside
-- infra.backup_dir; anything else is refused before any file is opened.
CREATE FUNCTION infra.restore_backup_from_path(path text, target_database name,
                                               wait boolean DEFAULT false,
                                               replace boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    canonical text := infra._resolve_backup_path(path);
    b infra.backups;
BEGIN
    SELECT * INTO b FROM infra.backups x
     WHERE x.status = 'succeeded'
       AND canonical IN (infra._dump_entry(x), infra._dump_entry(x) || '/toc.dat');
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('%s is not the dump file of a succeeded backup in the catalog', path),
            HINT = 'Restore by id with infra.restore_backup(id, target); see infra.backups.';
    END IF;
    RETURN infra._restore_job(b, target_database, wait, replace);
END
$$;

-- Verification --------------------------------------------------------------------------
CREATE FUNCTION infra._queue_verify(b infra.backups, requested_by name) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    scratch text := 'infra_verify_' || b.id || '_' || txid_current();
    new_job bigint;
BEGIN
    new_job := infra._queue_job('verify', b.database, b.id,
        jsonb_build_object(
            'backup_id', b.id, 'path', b.path, 'format', b.format,
            'dump', infra._dump_entry(b),
            'jobs', greatest(2, current_setting('infra.backup_jobs')::int),
            'work_db', scratch,
            'create_sql', format('CREATE DATABASE %I TEMPLATE template0', scratch),
            'drop_work_sql', format('DROP DATABASE IF EXISTS %I', scratch)),
        requested_by);
    PERFORM infra._audit('verify_queued', 'backup ' || b.id, jsonb_build_object('job_id', new_job));
    RETURN new_job;
END
$$;

CREATE FUNCTION infra.verify_backup(backup_id bigint, wait boolean DEFAULT true) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    b infra.backups := infra._restorable_backup(backup_id);
    new_job bigint := infra._queue_verify(b, infra._caller_role());
    outcome jsonb;
BEGIN
    IF NOT wait THEN
        PERFORM infra._wake_launcher_at_commit();
        RETURN jsonb_build_object('job_id', new_job, 'state', 'queued');
    END IF;
    PERFORM infra._record_job_start(new_job);
    outcome := infra._execute_job(new_job, 'verify', b.database, (SELECT params FROM infra.jobs WHERE id = new_job));
    PERFORM infra._record_job_outcome(new_job, outcome);
    IF outcome ? 'verification' THEN
        RETURN outcome->'verification' || jsonb_build_object('job_id', new_job);
    END IF;
    RETURN jsonb_build_object('ok', false, 'job_id', new_job, 'state', outcome->>'state',
                              'error', outcome->>'error');
END
$$;
COMMENT ON FUNCTION infra.verify_backup(bigint, boolean) IS
    'Checks every file''s SHA-256, restores into a scratch database, compares row counts with the manifest.';

-- Cancel --------------------------------------------------------------------------------
CREATE FUNCTION infra.cancel_job(job_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    j infra.jobs := infra._job_by_id(job_id);
BEGIN
    IF j.state = 'queued' THEN
        UPDATE infra.jobs SET state = 'cancelled', finished_at = clock_timestamp(),
                              error = 'cancelled by ' || infra._caller_role() || ' before it started'
         WHERE id = j.id;
        IF j.kind = 'backup' THEN
            UPDATE infra.backups SET status = 'cancelled', finished_at = clock_timestamp(),
                                     error = 'cancelled before it started'
             WHERE id = j.backup_id;
        END IF;
        PERFORM infra._audit('job_cancel', j.kind || ' job ' || j.id, jsonb_build_object('was', 'queued'));
        RETURN 'cancelled';
    ELSIF j.state = 'running' THEN
        IF NOT infra._signal_job(j.id) THEN
            RAISE EXCEPTION USING ERRCODE = 'IX004',
                MESSAGE = format('job %s is running but its worker could not be found', j.id),
                HINT = 'The launcher marks it failed within seconds; check infra.jobs again.';
        END IF;
        PERFORM infra._audit('job_cancel', j.kind || ' job ' || j.id, jsonb_build_object('was', 'running'));
        RETURN 'cancelling';
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'IX004',
        MESSAGE = format('job %s cannot be cancelled: it already %s', j.id, j.state),
        HINT = 'Only queued and running jobs can be cancelled.';
END
$$;
COMMENT ON FUNCTION infra.cancel_job(bigint) IS
    'Cancels a queued job at once, or asks a running job''s worker to stop (returns ''cancelling'').';

-- Retention and cleanup -----------------------------------------------------------------
CREATE FUNCTION infra._cleanup(dry_run boolean)
RETURNS TABLE (backup_id bigint, kind text, status text, path text, action text, reason text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    plan jsonb;
    r record;
    outcome text;
    catalogued text[];
    entry text;
    removed_jobs bigint;
BEGIN
    -- One cleanup at a time (a second waits), and no backup changes state meanwhile.
    PERFORM pg_advisory_xact_lock(7471, 2);
    SELECT infra._plan_retention(
               coalesce(array_agg(b.id), '{}'), coalesce(array_agg(b.kind), '{}'),
               coalesce(array_agg(b.status), '{}'),
               coalesce(array_agg(coalesce(b.finished_at, b.created_at)), '{}'),
               current_setting('infra.backup_retention_daily')::int,
               current_setting('infra.backup_retention_weekly')::int,
               current_setting('infra.backup_retention_monthly')::int)
      INTO plan FROM infra.backups b;
    FOR r IN SELECT b.*, p.reason AS why
               FROM jsonb_to_recordset(plan) AS p(id bigint, reason text)
               JOIN infra.backups b ON b.id = p.id
              ORDER BY b.id LOOP
        outcome := CASE WHEN dry_run THEN 'would remove' ELSE 'removed' END;
        IF r.path IS NOT NULL AND NOT dry_run THEN
            IF infra._remove_backup_files(r.path) = 'missing' THEN
                outcome := 'removed (its files were already missing)';
            END IF;
        END IF;
        IF NOT dry_run THEN
            DELETE FROM infra.backups WHERE id = r.id;
            PERFORM infra._audit('backup_delete', 'backup ' || r.id,
                                 jsonb_build_object('reason', r.why, 'path', r.path, 'kind', r.kind,
                                                    'status', r.status, 'by', 'cleanup'));
        END IF;
        backup_id := r.id; kind := r.kind; status := r.status; path := r.path;
        action := outcome; reason := r.why;
        RETURN NEXT;
    END LOOP;
    -- Job history: finished jobs older than 90 days go, except those of catalogued backups.
    IF NOT dry_run THEN
        WITH gone AS (
            DELETE FROM infra.jobs j
             WHERE j.state IN ('succeeded', 'failed', 'cancelled')
               AND j.finished_at < now() - interval '90 days'
               AND NOT EXISTS (SELECT 1 FROM infra.backups b WHERE b.job_id = j.id)
            RETURNING 1)
        SELECT count(*) INTO removed_jobs FROM gone;
        IF removed_jobs > 0 THEN
            backup_id := NULL; kind := NULL; status := NULL; path := NULL;
            action := 'jobs pruned';
            reason := removed_jobs || ' finished job(s) older than 90 days';
            RETURN NEXT;
        END IF;
    END IF;
    -- Report, never silently ignore: kept backups whose files are gone, and files in
    -- the backup directory the catalog does not know.
    FOR r IN SELECT b.* FROM infra.backups b
              WHERE b.status = 'succeeded'
                AND NOT b.path = ANY (coalesce(infra._backup_dir_entries(), '{}')) LOOP
        backup_id := r.id; kind := r.kind; status := r.status; path := r.path;
        action := 'missing'; reason := 'the catalog lists this backup but its directory is gone';
        RETURN NEXT;
    END LOOP;
    SELECT array_agg(x) INTO catalogued FROM (
        SELECT b.path AS x FROM infra.backups b WHERE b.path IS NOT NULL
        UNION ALL
        SELECT j.params->>'partial' FROM infra.jobs j
         WHERE j.state IN ('queued', 'running') AND j.params ? 'partial'
        UNION ALL
        SELECT j.params->>'path' FROM infra.jobs j
         WHERE j.state IN ('queued', 'running') AND j.params ? 'path') s;
    FOREACH entry IN ARRAY coalesce(infra._backup_dir_entries(), '{}') LOOP
        IF NOT entry = ANY (coalesce(catalogued, '{}')) THEN
            backup_id := NULL; kind := NULL; status := NULL; path := entry;
            action := 'unexpected'; reason := 'not in the catalog; left alone';
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION infra.cleanup_backups(dry_run boolean DEFAULT false)
RETURNS TABLE (backup_id bigint, kind text, status text, path text, action text, reason text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_job bigint;
    removed int;
    report jsonb;
BEGIN
    IF dry_run THEN
        RETURN QUERY SELECT * FROM infra._cleanup(true);
        RETURN;
    END IF;
    new_job := infra._queue_job('cleanup', current_database(), NULL, '{}', infra._caller_role());
    UPDATE infra.jobs SET state = 'running', started_at = clock_timestamp() WHERE id = new_job;
    SELECT coalesce(jsonb_agg(to_jsonb(c)), '[]') INTO report FROM infra._cleanup(false) c;
    SELECT count(*) INTO removed FROM jsonb_array_elements(report) e
     WHERE e->>'action' LIKE 'removed%';
    UPDATE infra.jobs SET state = 'succeeded', finished_at = clock_timestamp(),
                          result = jsonb_build_object('removed', removed, 'report', report)
     WHERE id = new_job;
    PERFORM infra._audit('cleanup', 'backups', jsonb_build_object('job_id', new_job, 'removed', removed));
    RETURN QUERY SELECT * FROM jsonb_to_recordset(report)
        AS x(backup_id bigint, kind text, status text, path text, action text, reason text);
END
$$;
COMMENT ON FUNCTION infra.cleanup_backups(boolean) IS
    'Applies retention (infra.backup_retention_*): removes (or with dry_run lists) backups and says why; reports missing and unexpected files.';

CREATE FUNCTION infra.delete_backup(backup_id bigint, force boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    b infra.backups := infra._backup_by_id(backup_id);
    newest bigint;
    outcome text := 'removed';
BEGIN
    PERFORM pg_advisory_xact_lock(7471, 2);
    IF b.status IN ('queued', 'running') THEN
        RAISE EXCEPTION USING ERRCODE = 'IX004',
            MESSAGE = format('backup %s is %s', b.id, b.status),
            HINT = format('Cancel its job first: SELECT infra.cancel_job(%s);', b.job_id);
    END IF;
    SELECT x.id INTO newest FROM infra.backups x WHERE x.status = 'succeeded'
     ORDER BY x.finished_at DESC, x.id DESC LIMIT 1;
    IF newest = b.id AND NOT force THEN
        RAISE EXCEPTION USING ERRCODE = 'IX004',
            MESSAGE = format('backup %s is the newest succeeded backup', b.id),
            HINT = 'Take a newer backup first, or pass force => true.';
    END IF;
    IF b.path IS NOT NULL AND infra._remove_backup_files(b.path) = 'missing' THEN
        outcome := 'removed (its files were already missing)';
    END IF;
    DELETE FROM infra.backups WHERE id = b.id;
    PERFORM infra._audit('backup_delete', 'backup ' || b.id,
                         jsonb_build_object('path', b.path, 'kind', b.kind, 'status', b.status,
                                            'by', 'delete_backup', 'force', force));
    RETURN outcome;
END
$$;

-- Statistics ----------------------------------------------------------------------------
CREATE FUNCTION infra.backup_stats() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object(
        'by_kind', (SELECT coalesce(jsonb_object_agg(k.kind, k.s), '{}') FROM (
            SELECT g.kind, jsonb_build_object(
                       'count', sum(g.n), 'bytes', sum(g.bytes),
                       'by_status', jsonb_object_agg(g.status, g.n)) AS s
              FROM (SELECT b.kind, b.status, count(*) AS n, coalesce(sum(b.bytes), 0) AS bytes
                      FROM infra.backups b GROUP BY b.kind, b.status) g
             GROUP BY g.kind) k),
        'total_bytes', (SELECT coalesce(sum(bytes), 0) FROM infra.backups WHERE status = 'succeeded'),
        'newest', (SELECT coalesce(jsonb_object_agg(n.kind, jsonb_build_object(
                          'id', n.id, 'finished_at', n.finished_at,
                          'age_seconds', round(extract(epoch FROM now() - n.finished_at)::numeric),
                          'bytes', n.bytes, 'verified_at', n.verified_at,
                          'verified_ok', (n.verify_result->>'ok')::boolean)), '{}')
                     FROM (SELECT DISTINCT ON (kind) * FROM infra.backups WHERE status = 'succeeded'
                           ORDER BY kind, finished_at DESC, id DESC) n),
        'failures_last_7_days', (SELECT count(*) FROM infra.backups
                                  WHERE status = 'failed' AND finished_at > now() - interval '7 days'),
        'success_rate', (SELECT round(count(*) FILTER (WHERE status = 'succeeded')::numeric
                                      / nullif(count(*), 0), 4)
                           FROM infra.backups WHERE status IN ('succeeded', 'failed')),
        'last_error', (SELECT jsonb_build_object('backup_id', id, 'at', finished_at, 'error', error)
                         FROM infra.backups WHERE status = 'failed'
                        ORDER BY finished_at DESC NULLS LAST, id DESC LIMIT 1),
        'jobs', (SELECT jsonb_build_object(
                     'queued', count(*) FILTER (WHERE state = 'queued'),
                     'running', count(*) FILTER (WHERE state = 'running'))
                   FROM infra.jobs WHERE state IN ('queued', 'running')),
        'next_runs', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                             'schedule', name, 'action', action, 'cron', cron,
                             'next_run', next_run, 'managed_by', managed_by) ORDER BY next_run), '[]')
                        FROM infra.schedules WHERE enabled),
        'backup_dir', infra._backup_dir_space(),
        'retention', jsonb_build_object(
            'daily', current_setting('infra.backup_retention_daily')::int,
            'weekly', current_setting('infra.backup_retention_weekly')::int,
            'monthly', current_setting('infra.backup_retention_monthly')::int));
$$;
COMMENT ON FUNCTION infra.backup_stats() IS
    'Backup counts and bytes by kind and status, newest per kind and its age, failures, success rate, next runs, free space.';

-- Schedules -----------------------------------------------------------------------------
CREATE FUNCTION infra.set_schedule(name text, cron text DEFAULT NULL, enabled boolean DEFAULT NULL)
RETURNS infra.schedules
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s infra.schedules;
    before infra.schedules;
    canonical text;
BEGIN
    SELECT * INTO before FROM infra.schedules x WHERE x.name = set_schedule.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('schedule %s does not exist', coalesce(quote_literal(set_schedule.name), 'NULL')),
            HINT = 'Schedules: ' || (SELECT string_agg(x.name, ', ' ORDER BY x.name) FROM infra.schedules x) || '.';
    END IF;
    IF before.managed_by = 'pg_cron' THEN
        RAISE EXCEPTION USING ERRCODE = 'IX004',
            MESSAGE = format('schedule %s is run by pg_cron (job infra_%s)', before.name, before.name),
            HINT = 'Change it with cron.alter_job(), or take the schedules back with infra.schedule_internally() first.';
    END IF;
    IF cron IS NOT NULL THEN
        canonical := infra._cron_canonical(cron);  -- raises IX001 on a bad expression
    END IF;
    UPDATE infra.schedules x
       SET cron = coalesce(set_schedule.cron, x.cron),
           enabled = coalesce(set_schedule.enabled, x.enabled),
           managed_by = CASE WHEN set_schedule.enabled THEN 'infra_ext' ELSE x.managed_by END,
           -- A changed time, or a schedule enabled again, counts from now: times that
           -- passed under the old expression or while disabled are not caught up.
           created_at = CASE WHEN set_schedule.cron IS NOT NULL
                               OR (set_schedule.enabled AND NOT x.enabled)
                             THEN clock_timestamp() ELSE x.created_at END,
           last_run = CASE WHEN set_schedule.cron IS NOT NULL
                             OR (set_schedule.enabled AND NOT x.enabled)
                           THEN NULL ELSE x.last_run END
     WHERE x.name = set_schedule.name RETURNING * INTO s;
    UPDATE infra.schedules x SET next_run = CASE WHEN x.enabled THEN infra._cron_next(x.cron, now()) END
     WHERE x.name = s.name RETURNING * INTO s;
    PERFORM infra._audit('schedule_change', s.name,
                         jsonb_build_object('cron', s.cron, 'enabled', s.enabled,
                                            'previous', jsonb_build_object('cron', before.cron, 'enabled', before.enabled)));
    RETURN s;
END
$$;
COMMENT ON FUNCTION infra.set_schedule(text, text, boolean) IS
    'Changes a schedule''s cron expression (5 fields, in infra.schedule_timezone) and/or enables or disables it.';

-- Queues what a schedule's action asks for; the scheduler and pg_cron call this.
CREATE FUNCTION infra._run_schedule_action(action text, requested_by name) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ids bigint[];
    newest infra.backups;
BEGIN
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
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'IX000', MESSAGE = format('unknown schedule action %s', action);
END
$$;

-- Launcher: queue every due schedule once (a run missed while the server was down runs
-- once, not once per missed time), then compute its next run.
CREATE FUNCTION infra._run_due_schedules() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s infra.schedules;
    due timestamptz;
    queued integer := 0;
    job bigint;
BEGIN
    FOR s IN SELECT * FROM infra.schedules WHERE enabled AND managed_by = 'infra_ext'
              ORDER BY name FOR UPDATE LOOP
        due := infra._cron_missed(s.cron, coalesce(s.last_run, s.created_at), clock_timestamp());
        IF due IS NOT NULL THEN
            -- A schedule whose action fails (e.g. a database in infra.backup_databases
            -- was dropped) is logged and audited, and counts as run: it must not stop
            -- the launcher's other work, nor be retried every second.
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

-- pg_cron integration -------------------------------------------------------------------
-- A pg_cron job calls this: it only queues (the launcher runs the job).
CREATE FUNCTION infra.run_schedule(name text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s infra.schedules;
    job bigint;
BEGIN
    SELECT * INTO s FROM infra.schedules x WHERE x.name = run_schedule.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('schedule %s does not exist', quote_literal(run_schedule.name));
    END IF;
    job := infra._run_schedule_action(s.action, infra._caller_role());
    UPDATE infra.schedules x SET last_run = clock_timestamp(), last_job_id = job WHERE x.name = s.name;
    PERFORM infra._audit('schedule_run', s.name, jsonb_build_object('job_id', job, 'by', s.managed_by));
    PERFORM infra._wake_launcher_at_commit();
    RETURN job;
END
$$;

CREATE FUNCTION infra.schedule_with_pg_cron() RETURNS TABLE (schedule text, cron_job_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s infra.schedules;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION USING ERRCODE = 'IX004',
            MESSAGE = 'pg_cron is not installed in this database',
            HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, and CREATE EXTENSION pg_cron.';
    END IF;
    IF current_setting('infra.schedule_timezone') NOT IN ('UTC', 'Etc/UTC', 'GMT', 'Etc/GMT') THEN
        RAISE WARNING 'pg_cron reads cron times in its own time zone (UTC unless cron.timezone says otherwise), not in infra.schedule_timezone (%)',
            current_setting('infra.schedule_timezone')
            USING HINT = 'Adjust the pg_cron jobs'' times with cron.alter_job() if they should stay in local time.';
    END IF;
    FOR s IN SELECT * FROM infra.schedules WHERE enabled AND managed_by = 'infra_ext'
              ORDER BY name FOR UPDATE LOOP
        EXECUTE 'SELECT cron.schedule($1, $2, $3)'
           INTO cron_job_id
          USING 'infra_' || s.name, s.cron, format('SELECT infra.run_schedule(%L)', s.name);
        UPDATE infra.schedules SET managed_by = 'pg_cron', enabled = false, next_run = NULL
         WHERE name = s.name;
        PERFORM infra._audit('schedule_to_pg_cron', s.name,
                             jsonb_build_object('cron', s.cron, 'cron_job_id', cron_job_id));
        schedule := s.name;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION infra.schedule_with_pg_cron() IS
    'Moves the enabled built-in schedules into pg_cron jobs named infra_<schedule> (pg_cron runs them in its own time zone, UTC by default) and disables them here.';

CREATE FUNCTION infra.schedule_internally() RETURNS TABLE (schedule text, cron_job_removed boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s infra.schedules;
BEGIN
    FOR s IN SELECT * FROM infra.schedules WHERE managed_by = 'pg_cron' ORDER BY name FOR UPDATE LOOP
        cron_job_removed := false;
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
            EXECUTE 'SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = $1'
               INTO cron_job_removed USING 'infra_' || s.name;
        END IF;
        UPDATE infra.schedules SET managed_by = 'infra_ext', enabled = true,
                                   created_at = clock_timestamp(), last_run = NULL,
                                   next_run = infra._cron_next(cron, now())
         WHERE name = s.name;
        PERFORM infra._audit('schedule_from_pg_cron', s.name,
                             jsonb_build_object('cron_job_removed', coalesce(cron_job_removed, false)));
        schedule := s.name;
        cron_job_removed := coalesce(cron_job_removed, false);
        RETURN NEXT;
    END LOOP;
END
$$;

-- Privileges ----------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA infra FROM PUBLIC;
REVOKE ALL ON infra.jobs, infra.backups, infra.schedules FROM PUBLIC;

GRANT SELECT ON infra.jobs, infra.backups, infra.schedules TO infra_viewer;
GRANT EXECUTE ON FUNCTION infra.backup_stats() TO infra_viewer;

GRANT EXECUTE ON FUNCTION
    infra.create_backup(text, boolean),
    infra.verify_backup(bigint, boolean),
    infra.cancel_job(bigint),
    infra.run_schedule(text)
TO infra_operator;

GRANT EXECUTE ON FUNCTION
    infra.restore_backup(bigint, name, boolean, boolean),
    infra.restore_backup_from_path(text, name, boolean, boolean),
    infra.delete_backup(bigint, boolean),
    infra.cleanup_backups(boolean),
    infra.set_schedule(text, text, boolean),
    infra.schedule_with_pg_cron(),
    infra.schedule_internally()
TO infra_admin;
