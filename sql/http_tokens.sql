-- API tokens for infra_httpd (0.4.0): creation with clear refusals, authentication of
-- valid, unknown, expired and revoked tokens, the hash never readable, the request's
-- context in the audit log, and who may do what.
\set VERBOSITY terse
SET TimeZone = 'UTC';

-- Refusals: nothing is written.
SELECT infra.create_api_token('postgres', 'x');
SELECT infra.create_api_token(NULL, 'x');
SELECT infra.create_api_token('infra_viewer', '  ');
SELECT infra.create_api_token('infra_viewer', repeat('x', 101));
SELECT infra.create_api_token('infra_viewer', 'x', interval '-1 hour');
SELECT count(*) AS tokens FROM infra.api_tokens;

-- A token per role; shown once, stored as a SHA-256 hash.
CREATE TEMP TABLE issued AS
SELECT r AS role, infra.create_api_token(r, 'regress ' || r) AS token
  FROM unnest(ARRAY['infra_viewer', 'infra_operator', 'infra_admin']::name[]) r;
SELECT role, token ~ '^ixt_[0-9a-f]{64}$' AS well_formed FROM issued ORDER BY role;
SELECT t.label, t.role, t.token_prefix = left(i.token, 10) AS prefix_matches,
       t.token_hash = sha256(convert_to(i.token, 'UTF8')) AS hash_matches,
       position(i.token IN t.token_prefix) = 0 AS token_not_stored
  FROM infra.api_tokens t JOIN issued i USING (role) ORDER BY t.id;

-- Authentication: the role and label of a valid token, nothing otherwise.
SELECT a.role, a.label FROM issued i, infra.authenticate_token(i.token) a ORDER BY a.role;
SELECT count(*) AS unknown FROM infra.authenticate_token('ixt_' || repeat('0', 64));
SELECT count(*) AS not_a_token FROM infra.authenticate_token('Bearer nonsense');
SELECT count(*) AS null_token FROM infra.authenticate_token(NULL);
SELECT count(*) AS used FROM infra.api_tokens WHERE last_used_at IS NOT NULL;

-- Expired and revoked tokens stop working at once.
SELECT infra.create_api_token('infra_viewer', 'short lived', interval '1 hour') IS NOT NULL AS created;
UPDATE infra.api_tokens SET created_at = now() - interval '2 hours',
                            expires_at = now() - interval '1 hour' WHERE label = 'short lived';
SELECT infra.revoke_api_token(id) FROM infra.api_tokens WHERE label = 'regress infra_operator';
SELECT infra.revoke_api_token(id) FROM infra.api_tokens WHERE label = 'regress infra_operator';
SELECT infra.revoke_api_token(999999);
SELECT a.role FROM issued i, infra.authenticate_token(i.token) a ORDER BY a.role;

-- The HTTP request's context reaches the audit log.
BEGIN;
SET LOCAL infra.http_token = 'regress infra_admin';
SET LOCAL infra.http_client = '203.0.113.7';
SET LOCAL infra.http_request_id = 'req-1';
SELECT infra.block_ip('198.51.100.9', interval '1 minute', 'via http') IS NOT NULL AS blocked;
COMMIT;
SELECT action, target, token_label, http_client, request_id FROM infra.audit_log
 WHERE action LIKE 'api\_token%' OR token_label IS NOT NULL ORDER BY id;
SELECT infra.unblock_ip('198.51.100.9');

-- Privileges: admins manage tokens but never read a hash; infra_httpd authenticates and
-- guards; a viewer can do neither.
SELECT has_function_privilege('infra_admin', 'infra.create_api_token(name, text, interval)', 'EXECUTE') AS admin_creates,
       has_function_privilege('infra_operator', 'infra.create_api_token(name, text, interval)', 'EXECUTE') AS operator_creates,
       has_column_privilege('infra_admin', 'infra.api_tokens', 'token_hash', 'SELECT') AS admin_reads_hash,
       has_column_privilege('infra_admin', 'infra.api_tokens', 'label', 'SELECT') AS admin_reads_label,
       has_function_privilege('infra_httpd', 'infra.authenticate_token(text)', 'EXECUTE') AS httpd_authenticates,
       has_function_privilege('infra_viewer', 'infra.authenticate_token(text)', 'EXECUTE') AS viewer_authenticates,
       has_function_privilege('infra_httpd', 'infra.check_request(inet, bigint)', 'EXECUTE') AS httpd_guards;
CREATE ROLE regress_httpd_login LOGIN IN ROLE infra_httpd;
SET ROLE regress_httpd_login;
SELECT count(*) AS httpd_cannot_list FROM infra.api_tokens;
SELECT infra.create_api_token('infra_admin', 'escalation');
SELECT infra.block_ip('198.51.100.10', interval '1 minute', 'no role set');
BEGIN;
SET LOCAL ROLE infra_operator;   -- what infra_httpd does for an operator's request
SELECT infra.block_ip('198.51.100.10', interval '1 minute', 'as operator') IS NOT NULL AS operator_blocks;
SELECT infra.allow_ip('10.9.9.0/24', 'operators may not');
ROLLBACK;
RESET ROLE;
DROP ROLE regress_httpd_login;
DELETE FROM infra.api_tokens;
