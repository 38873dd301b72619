-- The backup SQL surface: seeded schedules, input checks with clear errors (nothing is
-- written when they fail), the job state machine, retention plans, and privileges.
-- Real backups, restores and failures are exercised by the TAP tests (007-010).
\set VERBOSITY terse
SET TimeZone = 'UTC';

-- Seeded schedules: the seed's daily 03:00, weekly Sunday 02:00, monthly 1st 01:00,
-- cleanup 02:00, plus a weekly verification; next runs computed in UTC.
SELECT name, cron, action, enabled, managed_by, next_run > now() AS next_run_ahead,
       to_char(next_run AT TIME ZONE 'UTC', 'HH24:MI') AS at_utc
  FROM infra.schedules ORDER BY name;
SELECT extract(dow FROM next_run AT TIME ZONE 'UTC') AS weekly_dow
  FROM infra.schedules WHERE name = 'weekly_backup';
SELECT extract(day FROM next_run AT TIME ZONE 'UTC') AS monthly_day
  FROM infra.schedules WHERE name = 'monthly_backup';

-- Cron expressions: canonical forms, and bad ones refused with what is wrong.
SELECT infra._cron_canonical('@daily'), infra._cron_canonical('*/15 9-17 * * MON-FRI'),
       infra._cron_canonical('0 0 1,15 * *');
SELECT infra._cron_next('0 3 * * *', '2026-03-29 00:30:00+00');
SELECT infra._cron_next('0 0 29 2 *', '2026-03-01 00:00:00+00') AS next_leap_day;
SELECT infra.set_schedule('daily_backup', '61 * * * *');
SELECT infra.set_schedule('daily_backup', '0 0 30 2 *');
SELECT infra.set_schedule('daily_backup', 'a b c');
SELECT infra.set_schedule('daily_backup', '0 3 * *');
SELECT infra.set_schedule('hourly_backup', '0 * * * *');
SELECT cron, enabled FROM infra.schedules WHERE name = 'daily_backup';
SELECT count(*) AS schedule_changes FROM infra.audit_log WHERE action = 'schedule_change';
-- A good change: canonical check, new next run, audited.
SELECT name, cron, enabled FROM infra.set_schedule('weekly_backup', '30 4 * * SUN');
SELECT to_char(next_run AT TIME ZONE 'UTC', 'HH24:MI') AS weekly_at,
       extract(dow FROM next_run AT TIME ZONE 'UTC') AS weekly_dow
  FROM infra.schedules WHERE name = 'weekly_backup';
SELECT name, cron, enabled, next_run IS NULL AS no_next_run
  FROM infra.set_schedule('weekly_backup', NULL, false);
SELECT target, details->>'cron' AS cron, details->'previous'->>'cron' AS previous
  FROM infra.audit_log WHERE action = 'schedule_change' ORDER BY id;
SELECT name, cron, enabled FROM infra.set_schedule('weekly_backup', '0 2 * * 0', true);

-- Enabling a schedule again counts from now: nothing that passed while it was disabled
-- is caught up (last_run cleared, created_at moved to now).
BEGIN;  -- (one transaction: the launcher must not see the old times while enabled)
UPDATE infra.schedules SET last_run = now() - interval '3 days',
                           created_at = now() - interval '30 days' WHERE name = 'cleanup';
SELECT enabled FROM infra.set_schedule('cleanup', NULL, false);
COMMIT;
SELECT enabled, last_run IS NULL AS no_last_run, created_at > now() - interval '1 minute' AS counts_from_now
  FROM infra.set_schedule('cleanup', NULL, true);
SELECT infra._cron_missed(cron, coalesce(last_run, created_at), now()) IS NULL AS nothing_missed
  FROM infra.schedules WHERE name = 'cleanup';
-- A schedule handed to pg_cron is changed there, not here.
UPDATE infra.schedules SET managed_by = 'pg_cron', enabled = false WHERE name = 'monthly_backup';
SELECT infra.set_schedule('monthly_backup', NULL, true);
SELECT infra.set_schedule('monthly_backup', '0 4 1 * *');
SELECT cron, enabled, managed_by FROM infra.schedules WHERE name = 'monthly_backup';
UPDATE infra.schedules SET managed_by = 'infra_ext', enabled = true WHERE name = 'monthly_backup';

-- Kinds and ids: clear errors, and no row is written.
SELECT infra.create_backup('hourly');
SELECT infra.create_backup(NULL);
SELECT infra.create_backup('Daily');
SELECT count(*) AS backups, (SELECT count(*) FROM infra.jobs) AS jobs FROM infra.backups;
SELECT infra.restore_backup(424242, 'somewhere');
SELECT infra.verify_backup(424242);
SELECT infra.delete_backup(424242);
SELECT infra.cancel_job(424242);


-- A real backup (pg_dump in a job worker), then restore targets that are refused.
CREATE TABLE backup_probe (id int PRIMARY KEY, note text);
INSERT INTO backup_probe SELECT g, 'row ' || g FROM generate_series(1, 250) g;
SELECT infra.create_backup('manual', wait => true) AS manual_id \gset
SELECT kind, status, database, format, bytes > 0 AS has_bytes, sha256 ~ '^[0-9a-f]{64}$' AS sha256_ok,
       manifest->'tables' @> '[{"table": "public.backup_probe", "rows": 250}]' AS counted,
       path LIKE '%/manual-' || lpad(:manual_id::text, 6, '0') || '-contrib_regression-%' AS path_ok
  FROM infra.backups WHERE id = :manual_id;
SELECT j.kind, j.state, j.requested_by, j.error IS NULL AS no_error
  FROM infra.jobs j JOIN infra.backups b ON b.job_id = j.id WHERE b.id = :manual_id;
SELECT infra.restore_backup(:manual_id, 'template1');
SELECT infra.restore_backup(:manual_id, 'contrib_regression');
SELECT infra.restore_backup(:manual_id, '');
-- Restore-by-path: refused before any file is opened unless it is a catalogued backup.
-- (Paths in these messages hold the test directory and time stamps: shown as <path>.)
CREATE FUNCTION pg_temp.refusal(p text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM infra.restore_backup_from_path(p, 'x');
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '/[^ "]*', '<path>', 'g');
END
$$;
SELECT pg_temp.refusal('/etc/passwd');
SELECT pg_temp.refusal('../../etc/passwd');
SELECT pg_temp.refusal('');
SELECT pg_temp.refusal('no-such-backup.dump');
SELECT pg_temp.refusal(path || '/manifest.json') FROM infra.backups WHERE id = :manual_id;
SELECT pg_temp.refusal(path || '/../' || substring(path from '[^/]+$') || '/contrib_regression.dump')
  FROM infra.backups WHERE id = :manual_id;
SELECT pg_temp.refusal(path) FROM infra.backups WHERE id = :manual_id;
SELECT count(*) AS restore_jobs FROM infra.jobs WHERE kind = 'restore';
CREATE DATABASE regress_existing_target;
SELECT infra.restore_backup(:manual_id, 'regress_existing_target');
SELECT count(*) AS restore_jobs FROM infra.jobs WHERE kind = 'restore';
DROP DATABASE regress_existing_target;

-- Job states follow the core's machine: a final state never changes.
UPDATE infra.jobs SET state = 'running' WHERE kind = 'backup';
UPDATE infra.jobs SET state = 'queued' WHERE kind = 'backup';
SELECT infra.cancel_job((SELECT job_id FROM infra.backups WHERE id = :manual_id));

-- Cancelling a queued job (queued, not yet picked up: same transaction).
BEGIN;
SELECT infra.create_backup('weekly') AS weekly_id \gset
SELECT status FROM infra.backups WHERE id = :weekly_id;
SELECT infra.cancel_job((SELECT job_id FROM infra.backups WHERE id = :weekly_id));
SELECT b.status, j.state, j.error FROM infra.backups b JOIN infra.jobs j ON j.id = b.job_id
 WHERE b.id = :weekly_id;
COMMIT;

-- The newest succeeded backup is protected from delete_backup without force.
SELECT infra.delete_backup(:manual_id);

-- Retention: a catalog of older daily/weekly/monthly backups (no files), planned with
-- the defaults 7/4/12; the newest succeeded backup (the real one) is never touched.
INSERT INTO infra.backups (kind, status, database, format, created_at, finished_at)
SELECT 'daily', 'succeeded', 'contrib_regression', 'custom',
       now() - make_interval(days => g + 1), now() - make_interval(days => g + 1)
  FROM generate_series(1, 10) g;
INSERT INTO infra.backups (kind, status, database, format, created_at, finished_at)
SELECT 'weekly', 'succeeded', 'contrib_regression', 'custom',
       now() - make_interval(days => 7 * g), now() - make_interval(days => 7 * g)
  FROM generate_series(1, 5) g;
INSERT INTO infra.backups (kind, status, database, format, created_at, finished_at, error)
VALUES ('daily', 'failed', 'contrib_regression', 'custom', now() - interval '1 hour',
        now() - interval '1 hour', 'pg_dump failed');
SELECT kind, status, action, reason, count(*)
  FROM infra.cleanup_backups(dry_run => true) GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
SELECT count(*) AS still_catalogued FROM infra.backups;
-- Job history older than 90 days goes with a real cleanup (not with a dry run).
INSERT INTO infra.jobs (kind, state, requested_by, created_at, started_at, finished_at)
VALUES ('cleanup', 'succeeded', 'postgres', now() - interval '100 days',
        now() - interval '100 days', now() - interval '100 days');
SELECT kind, status, action, reason, count(*)
  FROM infra.cleanup_backups() GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
SELECT kind, status, count(*) FROM infra.backups GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS backup_delete_audits FROM infra.audit_log WHERE action = 'backup_delete';
SELECT kind, state, result->>'removed' AS removed FROM infra.jobs WHERE kind = 'cleanup';

-- Statistics.
SELECT jsonb_object_keys(infra.backup_stats()) ORDER BY 1;
SELECT infra.backup_stats()->'newest'->'manual'->>'id' = :manual_id::text AS newest_manual,
       (infra.backup_stats()->'backup_dir'->>'free_bytes')::bigint > 0 AS has_free_space,
       jsonb_array_length(infra.backup_stats()->'next_runs') AS next_runs,
       infra.backup_stats()->'retention' AS retention;

-- Settings are checked when set.
ALTER SYSTEM SET infra.backup_dir = 'relative/path';
ALTER SYSTEM SET infra.backup_format = 'tar';
ALTER SYSTEM SET infra.schedule_timezone = 'Mars/Olympus_Mons';
ALTER SYSTEM SET infra.backup_jobs = 0;

-- Privileges: viewer reads, operator creates and verifies, admin restores, deletes and
-- schedules; PUBLIC nothing.
SELECT p.proname,
       has_function_privilege('infra_viewer', p.oid, 'EXECUTE') AS viewer,
       has_function_privilege('infra_operator', p.oid, 'EXECUTE') AS operator,
       has_function_privilege('infra_admin', p.oid, 'EXECUTE') AS admin
  FROM pg_proc p
 WHERE p.pronamespace = 'infra'::regnamespace
   AND p.proname IN ('create_backup', 'restore_backup', 'restore_backup_from_path',
                     'verify_backup', 'cancel_job', 'cleanup_backups', 'delete_backup',
                     'backup_stats', 'set_schedule', 'run_schedule', 'schedule_with_pg_cron',
                     'schedule_internally')
 ORDER BY p.proname;
SELECT c.relname, has_table_privilege('infra_viewer', c.oid, 'SELECT') AS viewer_select,
       has_table_privilege('infra_admin', c.oid, 'INSERT') AS admin_insert,
       has_table_privilege('public', c.oid, 'SELECT') AS public_select
  FROM pg_class c WHERE c.oid IN ('infra.jobs'::regclass, 'infra.backups'::regclass,
                                  'infra.schedules'::regclass)
 ORDER BY c.relname;
CREATE ROLE regress_backup_viewer LOGIN IN ROLE infra_viewer;
SET ROLE regress_backup_viewer;
SELECT count(*) > 0 AS viewer_sees_backups FROM infra.backups;
SELECT infra.create_backup('manual');
SELECT infra.set_schedule('daily_backup', '0 4 * * *');
RESET ROLE;
DROP ROLE regress_backup_viewer;
-- pg_cron is not installed here.
SELECT infra.schedule_with_pg_cron();
