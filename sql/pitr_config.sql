-- infra.pitr_config(): the readiness of WAL archiving through infra_ext. The regression
-- server runs with archive_mode off and no archive library, so it lists what to fix,
-- each with the statement and whether a restart is needed.
SELECT (infra.pitr_config())->'ready' AS ready,
       (infra.pitr_config())->'restart_needed' AS restart_needed;
SELECT p->>'setting' AS setting, p->>'wanted' AS wanted, p->>'fix' AS fix,
       p->>'restart_needed' AS restart
  FROM jsonb_array_elements((infra.pitr_config())->'problems') p
 WHERE p->>'setting' <> 'infra.wal_archive_dir'
 ORDER BY 1;
SELECT a->>'setting' AS setting, a->>'fix' AS fix
  FROM jsonb_array_elements((infra.pitr_config())->'advice') a ORDER BY 1;
SELECT jsonb_object_keys((infra.pitr_config())->'settings') AS reported ORDER BY 1;
SELECT has_function_privilege('infra_viewer', 'infra.pitr_config()', 'EXECUTE') AS viewer,
       has_function_privilege('public', 'infra.pitr_config()', 'EXECUTE') AS public;
