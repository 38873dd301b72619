-- The foundation: the extension installs into schema infra, creates the three roles
-- with their membership chain, grants nothing to PUBLIC, and pins search_path on every
-- SECURITY DEFINER function.
CREATE EXTENSION infra_ext;

SELECT extname, extversion, nspname
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'infra_ext';

SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'infra\_%' ORDER BY rolname;
SELECT pg_has_role('infra_admin', 'infra_operator', 'MEMBER') AS admin_is_operator,
       pg_has_role('infra_operator', 'infra_viewer', 'MEMBER') AS operator_is_viewer,
       pg_has_role('infra_viewer', 'infra_operator', 'MEMBER') AS viewer_is_operator;

-- Who may call what: viewer < operator < admin, and PUBLIC nothing.
SELECT p.proname,
       has_function_privilege('infra_viewer', p.oid, 'EXECUTE') AS viewer,
       has_function_privilege('infra_operator', p.oid, 'EXECUTE') AS operator,
       has_function_privilege('infra_admin', p.oid, 'EXECUTE') AS admin
  FROM pg_proc p
 WHERE p.pronamespace = 'infra'::regnamespace AND p.proname NOT LIKE '\_%'
 ORDER BY p.proname;

SELECT count(*) AS functions_executable_by_public
  FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
 WHERE p.pronamespace = 'infra'::regnamespace AND a.grantee = 0;

-- Every SECURITY DEFINER function pins its search_path.
SELECT p.proname AS definer_without_search_path
  FROM pg_proc p
 WHERE p.pronamespace = 'infra'::regnamespace AND p.prosecdef
   AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, pg_temp'];
SELECT count(*) > 0 AS has_security_definer_functions
  FROM pg_proc WHERE pronamespace = 'infra'::regnamespace AND prosecdef;

-- The audit log has the documented shape.
SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid = 'infra.audit_log'::regclass AND attnum > 0 AND NOT attisdropped
 ORDER BY attnum;

-- infra_ext's own settings are reserved: a misspelt one is an error, not a placeholder.
SET infra.ddos_max_request_sise = 5;

-- Errors raised by the extension itself carry SQLSTATE class IX.
CREATE FUNCTION sqlstate_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
SELECT sqlstate_of($$SELECT infra.check_request(NULL)$$) AS null_ip,
       sqlstate_of($$SELECT infra.block_ip('0.0.0.0/0')$$) AS everything,
       sqlstate_of($$SELECT infra.report_suspicious('10.0.0.1', 'Bad Kind')$$) AS bad_kind;
