-- infra_ext 0.4.0: what the HTTP layer (infra_httpd) needs from the database — API
-- tokens with roles, the request's context in the audit log, and a role for the server
-- itself. The database stays the single authority: infra_httpd runs every request's SQL
-- under SET LOCAL ROLE to the token's role, so these grants decide what it may do.

\echo Use "ALTER EXTENSION infra_ext UPDATE TO '0.4.0'" to load this file. \quit

-- The role infra_httpd logs in with is a member of infra_httpd. infra_httpd is NOINHERIT:
-- its members may SET ROLE to viewer, operator or admin (one request at a time) but do
-- not hold their privileges otherwise.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'infra_httpd') THEN
        CREATE ROLE infra_httpd NOLOGIN NOINHERIT;
    END IF;
    GRANT infra_viewer, infra_operator, infra_admin TO infra_httpd;
END
$$;

-- Audit log: which token, client address and request, when a call came through HTTP
-- (set by infra_httpd with SET LOCAL infra.http_token / infra.http_client /
-- infra.http_request_id; informational: the roles recorded beside them are the
-- authority).
ALTER TABLE infra.audit_log ADD COLUMN token_label text, ADD COLUMN http_client text,
                            ADD COLUMN request_id text;

CREATE OR REPLACE FUNCTION infra._audit(action text, target text, details jsonb DEFAULT '{}')
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO infra.audit_log (session_role, acting_role, action, target, details,
                                 token_label, http_client, request_id)
    VALUES (session_user, infra._caller_role(), action, target, coalesce(details, '{}'),
            nullif(current_setting('infra.http_token', true), ''),
            nullif(current_setting('infra.http_client', true), ''),
            nullif(current_setting('infra.http_request_id', true), ''));
$$;

-- API tokens -------------------------------------------------------------------------------
CREATE TABLE infra.api_tokens (
    id bigserial PRIMARY KEY,
    label text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    role name NOT NULL CHECK (role IN ('infra_viewer', 'infra_operator', 'infra_admin')),
    token_hash bytea NOT NULL UNIQUE,   -- SHA-256 of the token; the token itself is never stored
    token_prefix text NOT NULL,         -- its first characters, to recognise it in a list
    created_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    created_by name NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz,
    CHECK (expires_at IS NULL OR expires_at > created_at)
);
COMMENT ON TABLE infra.api_tokens IS
    'Bearer tokens for infra_httpd: a label, the role its requests run as, a SHA-256 hash, expiry and revocation.';

CREATE FUNCTION infra.create_api_token(role name, label text, expires_in interval DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    token text;
    new_id bigint;
BEGIN
    IF role IS NULL OR role NOT IN ('infra_viewer', 'infra_operator', 'infra_admin') THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('invalid token role %s', coalesce(quote_literal(role), 'NULL')),
            HINT = 'Use infra_viewer, infra_operator or infra_admin.';
    END IF;
    IF label IS NULL OR length(btrim(label)) = 0 OR length(label) > 100 THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = 'a token needs a label of 1 to 100 characters',
            HINT = 'Name who or what uses it, e.g. ''ops laptop'' or ''deploy bot''.';
    END IF;
    IF expires_in IS NOT NULL AND expires_in <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('expires_in must be positive, not %s', expires_in),
            HINT = 'Leave it NULL for a token that does not expire.';
    END IF;
    -- 2 x 122 random bits (gen_random_uuid uses the server's strong random source).
    token := 'ixt_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
    INSERT INTO infra.api_tokens (label, role, token_hash, token_prefix, created_by, expires_at)
    VALUES (btrim(create_api_token.label), create_api_token.role,
            sha256(convert_to(token, 'UTF8')), left(token, 10), infra._caller_role(),
            clock_timestamp() + expires_in)
    RETURNING id INTO new_id;
    PERFORM infra._audit('api_token_create', 'token ' || new_id,
                         jsonb_build_object('label', btrim(create_api_token.label),
                                            'role', create_api_token.role,
                                            'expires_in', expires_in::text));
    RETURN token;
END
$$;
COMMENT ON FUNCTION infra.create_api_token(name, text, interval) IS
    'Creates a bearer token for infra_httpd and returns it (shown once; only its SHA-256 is stored).';

CREATE FUNCTION infra.revoke_api_token(token_id bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    done boolean;
BEGIN
    UPDATE infra.api_tokens SET revoked_at = clock_timestamp()
     WHERE id = token_id AND revoked_at IS NULL;
    done := FOUND;
    IF NOT done AND NOT EXISTS (SELECT 1 FROM infra.api_tokens WHERE id = token_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('token %s does not exist', coalesce(token_id::text, 'NULL')),
            HINT = 'SELECT id, label, role FROM infra.api_tokens shows the tokens.';
    END IF;
    PERFORM infra._audit('api_token_revoke', 'token ' || token_id,
                         jsonb_build_object('was_active', done));
    RETURN done;
END
$$;
COMMENT ON FUNCTION infra.revoke_api_token(bigint) IS
    'Revokes a token at once (false when it was already revoked).';

-- For infra_httpd: the role and label of a valid token (no row for an unknown, expired
-- or revoked one). last_used_at is written at most once a minute per token, so that
-- busy traffic does not write on every request.
CREATE FUNCTION infra.authenticate_token(token text)
RETURNS TABLE (token_id bigint, role name, label text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t infra.api_tokens;
BEGIN
    IF token IS NULL OR token NOT LIKE 'ixt\_%' OR length(token) > 200 THEN
        RETURN;
    END IF;
    SELECT * INTO t FROM infra.api_tokens a
     WHERE a.token_hash = sha256(convert_to(token, 'UTF8'))
       AND a.revoked_at IS NULL
       AND (a.expires_at IS NULL OR a.expires_at > clock_timestamp());
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF t.last_used_at IS NULL OR t.last_used_at < clock_timestamp() - interval '1 minute' THEN
        UPDATE infra.api_tokens SET last_used_at = clock_timestamp() WHERE id = t.id;
    END IF;
    token_id := t.id;
    role := t.role;
    label := t.label;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION infra.authenticate_token(text) IS
    'For infra_httpd: the role and label of a valid bearer token; no row when it is unknown, expired or revoked.';

-- Privileges -------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION infra.create_api_token(name, text, interval),
    infra.revoke_api_token(bigint), infra.authenticate_token(text) FROM PUBLIC;
REVOKE ALL ON infra.api_tokens FROM PUBLIC;
GRANT SELECT (id, label, role, token_prefix, created_at, created_by, expires_at, revoked_at,
              last_used_at) ON infra.api_tokens TO infra_admin;
GRANT EXECUTE ON FUNCTION infra.create_api_token(name, text, interval),
    infra.revoke_api_token(bigint) TO infra_admin;
-- What infra_httpd does before it knows a token's role: authenticate, guard every
-- request, report failed authentications.
GRANT USAGE ON SCHEMA infra TO infra_httpd;
GRANT EXECUTE ON FUNCTION infra.authenticate_token(text),
    infra.check_request(inet, bigint), infra.report_suspicious(inet, text, integer) TO infra_httpd;
