-- The PITR SQL surface without a running archive: defaults of the settings, clear
-- errors for plans and cleanups that cannot be made (nothing written), the shape of
-- wal_archive_stats(), catalog constraints, and who may call what. Real base backups,
-- plans, restores and cleanups are exercised by TAP test 013.
\set VERBOSITY terse
SET TimeZone = 'UTC';

-- A fixed base backup directory, so that messages naming it do not depend on where the
-- temporary server lives.
ALTER SYSTEM SET infra.base_backup_dir = '/nonexistent/infra_base_backups';
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);

SHOW infra.base_backup_retention;
SHOW infra.base_backup_format;
SHOW infra.base_backup_compression;
SHOW infra.wal_monitor_interval;
SET infra.base_backup_retention = 3;      -- a server setting (reload), not a session one
SELECT set_config('infra.base_backup_format', 'zip', false);

-- Plans that cannot be made: no base backup yet, no target.
SELECT infra.recovery_plan(now() - interval '1 minute');
SELECT infra.recovery_plan(NULL);
SELECT infra.recovery_plan('not a time');
SELECT infra.cleanup_wal_archive(NULL);
SELECT infra.cleanup_wal_archive();
SELECT count(*) AS audited_cleanups FROM infra.audit_log WHERE action LIKE 'wal_cleanup%';

-- Compression needs tar: refused before anything is queued.
ALTER SYSTEM SET infra.base_backup_compression = 'zstd';
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
SELECT infra.create_base_backup();
ALTER SYSTEM RESET infra.base_backup_compression;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
SELECT count(*) AS base_backup_rows FROM infra.base_backups;
SELECT count(*) AS base_backup_jobs FROM infra.jobs WHERE kind = 'base_backup';

-- The catalog refuses what cannot be: compression on a plain backup, unknown statuses.
INSERT INTO infra.base_backups (requested_by, label, format, compression)
VALUES ('x', 'x', 'plain', 'zstd');
INSERT INTO infra.base_backups (requested_by, label, format, compression, status)
VALUES ('x', 'x', 'tar', 'zstd', 'lost');

-- wal_archive_stats() with no archive yet: its keys, and an archive that does not exist.
SELECT jsonb_object_keys(infra.wal_archive_stats()) AS key ORDER BY 1;
SELECT infra.wal_archive_stats()->'archive'->'exists' AS archive_exists,
       infra.wal_archive_stats()->>'compression' AS compression,
       jsonb_typeof(infra.wal_archive_stats()->'history') AS history;

-- Who may call what: viewers read, operators take base backups, admins clean up.
SELECT f AS function,
       has_function_privilege('infra_viewer', f, 'EXECUTE') AS viewer,
       has_function_privilege('infra_operator', f, 'EXECUTE') AS operator,
       has_function_privilege('infra_admin', f, 'EXECUTE') AS admin,
       has_function_privilege('public', f, 'EXECUTE') AS public
  FROM unnest(ARRAY['infra.pitr_config()', 'infra.wal_archive_stats()',
                    'infra.recovery_plan(timestamptz, bigint)',
                    'infra.create_base_backup(boolean)', 'infra.cleanup_wal_archive(boolean)',
                    'infra._recovery_plan(timestamptz, bigint)',
                    'infra._cleanup_wal_archive(boolean, pg_lsn)', 'infra._wal_archive_scan()',
                    'infra._highest_base_backup_id_on_disk()',
                    'infra._next_base_backup_id()']) f;
SELECT has_table_privilege('infra_viewer', 'infra.base_backups', 'SELECT') AS viewer_reads,
       has_table_privilege('infra_admin', 'infra.base_backups', 'INSERT') AS admin_writes,
       has_table_privilege('public', 'infra.base_backups', 'SELECT') AS public_reads;
CREATE ROLE regress_pitr_viewer LOGIN IN ROLE infra_viewer;
CREATE ROLE regress_pitr_operator LOGIN IN ROLE infra_operator;
SET ROLE regress_pitr_viewer;
SELECT infra.wal_archive_stats()->'archive'->'exists' AS viewer_sees_stats;
SELECT count(*) AS viewer_lists FROM infra.base_backups;
SELECT infra.create_base_backup();
SELECT infra._wal_archive_scan();
RESET ROLE;
SET ROLE regress_pitr_operator;
SELECT infra.cleanup_wal_archive(dry_run => true);
RESET ROLE;
DROP ROLE regress_pitr_viewer;
DROP ROLE regress_pitr_operator;
ALTER SYSTEM RESET infra.base_backup_dir;
SELECT pg_reload_conf();
