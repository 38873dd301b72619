-- infra_ext 0.1.0: the foundation (roles, audit log) and the request guard.
--
-- Conventions: every state-changing function is SECURITY DEFINER with a pinned
-- search_path, checks its input with a clear error (SQLSTATE class IX), and writes
-- infra.audit_log with the caller's role (infra._caller_role(): the role after SET ROLE,
-- not the definer). Functions are granted to roles, never to PUBLIC.

\echo Use "CREATE EXTENSION infra_ext" to load this file. \quit

-- Roles ---------------------------------------------------------------------------------
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'infra_viewer') THEN
        CREATE ROLE infra_viewer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'infra_operator') THEN
        CREATE ROLE infra_operator NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'infra_admin') THEN
        CREATE ROLE infra_admin NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('infra_operator', 'infra_viewer', 'MEMBER') THEN
        GRANT infra_viewer TO infra_operator;
    END IF;
    IF NOT pg_catalog.pg_has_role('infra_admin', 'infra_operator', 'MEMBER') THEN
        GRANT infra_operator TO infra_admin;
    END IF;
END
$roles$;

GRANT USAGE ON SCHEMA infra TO infra_viewer;

-- Internal helpers ----------------------------------------------------------------------
CREATE FUNCTION infra._caller_role() RETURNS name
    AS 'MODULE_PATHNAME', 'infra_caller_role' LANGUAGE C STABLE;

CREATE FUNCTION infra.canonical_network(target cidr) RETURNS cidr
    AS 'MODULE_PATHNAME', 'infra_canonical_network' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION infra.canonical_network(cidr) IS
    'The network as the guard stores it: IPv4-mapped IPv6 (::ffff:a.b.c.d/n) becomes IPv4.';

CREATE FUNCTION infra._extension_created() RETURNS void
    AS 'MODULE_PATHNAME', 'infra_extension_created' LANGUAGE C VOLATILE;

-- Audit log -----------------------------------------------------------------------------
CREATE TABLE infra.audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    session_role name NOT NULL DEFAULT session_user,
    acting_role name NOT NULL DEFAULT current_user,
    client_addr inet DEFAULT pg_catalog.inet_client_addr(),
    action text NOT NULL,
    target text,
    details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON infra.audit_log (at);
CREATE INDEX audit_log_action_at ON infra.audit_log (action, at);
COMMENT ON TABLE infra.audit_log IS
    'One row per state-changing call: who (session and acting role), what, on what, details.';

CREATE FUNCTION infra._audit(action text, target text, details jsonb DEFAULT '{}')
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO infra.audit_log (session_role, acting_role, action, target, details)
    VALUES (session_user, infra._caller_role(), action, target, coalesce(details, '{}'));
$$;

-- Blocklist and allowlist (the authority; shared memory mirrors them at commit) ---------
CREATE TABLE infra.blocked_ips (
    network cidr PRIMARY KEY CHECK (network = infra.canonical_network(network)),
    reason text NOT NULL,
    source text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'auto')),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at timestamptz CHECK (expires_at IS NULL OR expires_at > created_at),
    created_by name NOT NULL DEFAULT current_user
);
CREATE INDEX blocked_ips_expires_at ON infra.blocked_ips (expires_at)
    WHERE expires_at IS NOT NULL;
COMMENT ON TABLE infra.blocked_ips IS
    'Blocked addresses and ranges; expires_at NULL = permanent. Checked from shared memory.';

CREATE TABLE infra.allowed_ips (
    network cidr PRIMARY KEY CHECK (network = infra.canonical_network(network)),
    reason text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at timestamptz CHECK (expires_at IS NULL OR expires_at > created_at),
    created_by name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE infra.allowed_ips IS
    'Allowlisted addresses and ranges: never rate-limited, never blocked automatically.';

SELECT pg_catalog.pg_extension_config_dump('infra.blocked_ips', '');
SELECT pg_catalog.pg_extension_config_dump('infra.allowed_ips', '');
SELECT pg_catalog.pg_extension_config_dump('infra.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('infra.audit_log_id_seq', '');

CREATE FUNCTION infra._guard_list_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'infra_guard_list_changed' LANGUAGE C;

CREATE TRIGGER guard_sync AFTER INSERT OR UPDATE OR DELETE ON infra.blocked_ips
    FOR EACH ROW EXECUTE FUNCTION infra._guard_list_changed('block');
CREATE TRIGGER guard_sync_truncate AFTER TRUNCATE ON infra.blocked_ips
    FOR EACH STATEMENT EXECUTE FUNCTION infra._guard_list_changed('block');
CREATE TRIGGER guard_sync AFTER INSERT OR UPDATE OR DELETE ON infra.allowed_ips
    FOR EACH ROW EXECUTE FUNCTION infra._guard_list_changed('allow');
CREATE TRIGGER guard_sync_truncate AFTER TRUNCATE ON infra.allowed_ips
    FOR EACH STATEMENT EXECUTE FUNCTION infra._guard_list_changed('allow');

-- The guard's hot path and reports (C) --------------------------------------------------
CREATE TYPE infra.request_verdict AS (
    allowed boolean,
    reason text,
    retry_after_s integer,
    remaining_minute integer,
    remaining_hour integer
);
-- A named result type (not OUT parameters): the executor finds its descriptor in the
-- type cache instead of rebuilding it on every execution of the hot path.
CREATE FUNCTION infra.check_request(ip inet, request_bytes bigint DEFAULT 0)
RETURNS infra.request_verdict AS 'MODULE_PATHNAME', 'infra_check_request' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION infra.check_request(inet, bigint) IS
    'One request''s verdict: ok, allowlisted, blocked, rate_limit_minute, rate_limit_hour or request_too_large.';

CREATE FUNCTION infra.report_suspicious(ip inet, kind text, weight integer DEFAULT 1)
RETURNS jsonb AS 'MODULE_PATHNAME', 'infra_report_suspicious' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION infra.report_suspicious(inet, text, integer) IS
    'The application reports suspicious activity (a failed login, a scanner path): weight strikes.';

CREATE FUNCTION infra._guard_ip_state(ip inet) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'infra_guard_ip_state' LANGUAGE C VOLATILE;
CREATE FUNCTION infra._guard_stats(top integer DEFAULT 10) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'infra_guard_stats' LANGUAGE C VOLATILE;
CREATE FUNCTION infra._guard_check_room(target cidr, blocklist boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'infra_check_list_room' LANGUAGE C VOLATILE;
CREATE FUNCTION infra._guard_forget_block(target cidr) RETURNS boolean
    AS 'MODULE_PATHNAME', 'infra_forget_block' LANGUAGE C VOLATILE;

-- Validation shared by block_ip and allow_ip --------------------------------------------
CREATE FUNCTION infra._checked_network(target cidr, force boolean) RETURNS cidr
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_network cidr;
BEGIN
    IF target IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001', MESSAGE = 'target must not be NULL',
            HINT = 'Pass an address or a range, for example ''203.0.113.7'' or ''203.0.113.0/24''.';
    END IF;
    v_network := infra.canonical_network(target);
    IF masklen(v_network) = 0 AND NOT coalesce(force, false) THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('refusing to act on every address (%s)', v_network),
            HINT = 'Pass force => true if you really mean all clients.';
    END IF;
    RETURN v_network;
END
$$;

CREATE FUNCTION infra._checked_expiry(duration interval, permanent boolean) RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF coalesce(permanent, false) THEN
        IF duration IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'IX001',
                MESSAGE = 'give either a duration or permanent => true, not both';
        END IF;
        RETURN NULL;
    END IF;
    IF duration IS NULL THEN
        RETURN now() + current_setting('infra.ddos_block_duration')::interval;
    END IF;
    IF duration <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('duration must be positive (got %s)', duration),
            HINT = 'For example interval ''30 minutes''; use permanent => true for no end.';
    END IF;
    IF duration > interval '100 years' THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('duration %s is longer than 100 years', duration),
            HINT = 'Use permanent => true for a block without an end.';
    END IF;
    RETURN now() + duration;
END
$$;

CREATE FUNCTION infra._checked_reason(reason text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001', MESSAGE = 'reason must not be empty',
            HINT = 'Say why, for example ''credential stuffing from this range''.';
    END IF;
    IF length(reason) > 500 THEN
        RAISE EXCEPTION USING ERRCODE = 'IX001',
            MESSAGE = format('reason is %s characters long; the limit is 500', length(reason));
    END IF;
    RETURN btrim(reason);
END
$$;

-- Blocking ------------------------------------------------------------------------------
CREATE FUNCTION infra.block_ip(
    target cidr, duration interval DEFAULT NULL, reason text DEFAULT 'manual',
    permanent boolean DEFAULT false, force boolean DEFAULT false)
RETURNS infra.blocked_ips
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_network cidr := infra._checked_network(target, force);
    expires timestamptz := infra._checked_expiry(duration, permanent);
    why text := infra._checked_reason(reason);
    allow infra.allowed_ips;
    previous infra.blocked_ips;
    inside text;
    result infra.blocked_ips;
BEGIN
    SELECT * INTO allow FROM infra.allowed_ips a
     WHERE a.network >>= v_network AND (a.expires_at IS NULL OR a.expires_at > now())
     ORDER BY masklen(a.network) DESC LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'IX004',
            MESSAGE = format('%s is allowlisted (by %s: %s); not blocking it',
                             v_network, allow.network, allow.reason),
            HINT = 'Remove it from the allowlist with infra.disallow_ip() first.';
    END IF;
    SELECT string_agg(a.network::text, ', ' ORDER BY a.network) INTO inside
      FROM infra.allowed_ips a WHERE a.network << v_network;
    IF inside IS NOT NULL THEN
        RAISE NOTICE 'allowlisted networks inside % stay allowed: %', v_network, inside;
    END IF;

    PERFORM infra._guard_check_room(v_network, true);
    SELECT * INTO previous FROM infra.blocked_ips b WHERE b.network = v_network FOR UPDATE;
    INSERT INTO infra.blocked_ips AS b (network, reason, source, created_at, expires_at, created_by)
    VALUES (v_network, why, 'manual', now(), expires, infra._caller_role())
    ON CONFLICT ON CONSTRAINT blocked_ips_pkey DO UPDATE
       SET reason = excluded.reason, source = 'manual', created_at = excluded.created_at,
           expires_at = excluded.expires_at, created_by = excluded.created_by
    RETURNING * INTO result;
    PERFORM infra._audit(CASE WHEN previous.network IS NULL THEN 'block' ELSE 'reblock' END,
                         v_network::text,
                         jsonb_build_object('reason', why, 'expires_at', expires,
                                            'permanent', expires IS NULL,
                                            'previous', CASE WHEN previous.network IS NULL
                                                             THEN NULL ELSE to_jsonb(previous) END));
    RETURN result;
END
$$;
COMMENT ON FUNCTION infra.block_ip(cidr, interval, text, boolean, boolean) IS
    'Blocks an address or range. NULL duration = infra.ddos_block_duration; permanent => true for no end; force => true for /0.';

CREATE FUNCTION infra.unblock_ip(target cidr) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_network cidr := infra._checked_network(target, true);
    old infra.blocked_ips;
    removed boolean;
    pending boolean;
    enclosing cidr;
BEGIN
    -- The keeper takes the same lock before writing an automatic block, so it cannot
    -- write one back that this unblock removes (guard_keeper.cpp).
    PERFORM pg_advisory_xact_lock(7471, hashtext(v_network::text));
    DELETE FROM infra.blocked_ips b WHERE b.network = v_network RETURNING * INTO old;
    removed := FOUND;
    pending := infra._guard_forget_block(v_network);
    IF removed OR pending THEN
        PERFORM infra._audit('unblock', v_network::text,
                             jsonb_build_object('removed', CASE WHEN removed THEN to_jsonb(old) END,
                                                'unpersisted_auto_block', pending));
        RETURN true;
    END IF;
    SELECT b.network INTO enclosing FROM infra.blocked_ips b
     WHERE b.network >> v_network AND (b.expires_at IS NULL OR b.expires_at > now())
     ORDER BY masklen(b.network) DESC LIMIT 1;
    IF enclosing IS NOT NULL THEN
        RAISE NOTICE '% is not blocked itself, but lies inside the blocked range %', v_network, enclosing;
    ELSE
        RAISE NOTICE '% is not blocked', v_network;
    END IF;
    RETURN false;
END
$$;

-- Allowlist -----------------------------------------------------------------------------
CREATE FUNCTION infra.allow_ip(target cidr, reason text, duration interval DEFAULT NULL)
RETURNS infra.allowed_ips
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_network cidr := infra._checked_network(target, false);
    why text := infra._checked_reason(reason);
    expires timestamptz := CASE WHEN duration IS NULL THEN NULL
                                ELSE infra._checked_expiry(duration, false) END;
    overridden text;
    result infra.allowed_ips;
BEGIN
    SELECT string_agg(b.network::text, ', ' ORDER BY b.network) INTO overridden
      FROM infra.blocked_ips b WHERE b.network <<= v_network;
    IF overridden IS NOT NULL THEN
        RAISE NOTICE 'blocks inside % no longer apply while it is allowlisted: %', v_network, overridden;
    END IF;
    PERFORM infra._guard_check_room(v_network, false);
    INSERT INTO infra.allowed_ips AS a (network, reason, created_at, expires_at, created_by)
    VALUES (v_network, why, now(), expires, infra._caller_role())
    ON CONFLICT ON CONSTRAINT allowed_ips_pkey DO UPDATE
       SET reason = excluded.reason, created_at = excluded.created_at,
           expires_at = excluded.expires_at, created_by = excluded.created_by
    RETURNING * INTO result;
    PERFORM infra._audit('allow', v_network::text,
                         jsonb_build_object('reason', why, 'expires_at', expires));
    RETURN result;
END
$$;

CREATE FUNCTION infra.disallow_ip(target cidr) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_network cidr := infra._checked_network(target, true);
    old infra.allowed_ips;
BEGIN
    DELETE FROM infra.allowed_ips a WHERE a.network = v_network RETURNING * INTO old;
    IF NOT FOUND THEN
        RAISE NOTICE '% is not allowlisted', v_network;
        RETURN false;
    END IF;
    PERFORM infra._audit('disallow', v_network::text, jsonb_build_object('removed', to_jsonb(old)));
    RETURN true;
END
$$;

-- Statistics ----------------------------------------------------------------------------
CREATE FUNCTION infra.ip_stats(ip inet) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT s
        || jsonb_build_object('block',
               CASE WHEN s->'block' = 'null'::jsonb THEN NULL
                    ELSE (s->'block') || coalesce(
                        (SELECT jsonb_build_object('reason', b.reason, 'created_at', b.created_at,
                                                   'created_by', b.created_by)
                           FROM infra.blocked_ips b
                          WHERE b.network = (s->'block'->>'network')::cidr), '{}') END)
        || jsonb_build_object('allow',
               CASE WHEN s->'allow' = 'null'::jsonb THEN NULL
                    ELSE (s->'allow') || coalesce(
                        (SELECT jsonb_build_object('reason', a.reason, 'created_by', a.created_by)
                           FROM infra.allowed_ips a
                          WHERE a.network = (s->'allow'->>'network')::cidr), '{}') END)
    FROM infra._guard_ip_state(ip) AS s;
$$;
COMMENT ON FUNCTION infra.ip_stats(inet) IS
    'What the guard knows about one address: window counts, strikes, block, allowlist, first/last seen.';

CREATE FUNCTION infra.ddos_stats() RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT s || jsonb_build_object(
        'blocked_addresses', (SELECT count(*) FROM infra.blocked_ips b
                               WHERE (b.expires_at IS NULL OR b.expires_at > now())
                                 AND masklen(b.network) = CASE family(b.network) WHEN 4 THEN 32 ELSE 128 END),
        'blocked_ranges', (SELECT count(*) FROM infra.blocked_ips b
                            WHERE (b.expires_at IS NULL OR b.expires_at > now())
                              AND masklen(b.network) < CASE family(b.network) WHEN 4 THEN 32 ELSE 128 END),
        'allowlisted', (SELECT count(*) FROM infra.allowed_ips a
                         WHERE a.expires_at IS NULL OR a.expires_at > now()),
        'auto_blocks_last_hour', (SELECT count(*) FROM infra.audit_log l
                                   WHERE l.action = 'auto_block' AND l.at > now() - interval '1 hour')
                                 + (s->>'auto_blocks_pending_persist')::bigint,
        'settings', (SELECT jsonb_object_agg(substr(name, 7),
                                             jsonb_build_object('value', setting::numeric, 'unit', unit,
                                                                'text', current_setting(name)))
                       FROM pg_settings WHERE name LIKE 'infra.ddos%'))
    FROM infra._guard_stats(10) AS s;
$$;
COMMENT ON FUNCTION infra.ddos_stats() IS
    'Guard totals: tracked IPs, capacity, evictions, verdicts by reason, blocks, top IPs, settings.';

-- Privileges ----------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA infra FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA infra FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    infra.check_request(inet, bigint),
    infra.report_suspicious(inet, text, integer),
    infra.ip_stats(inet),
    infra.ddos_stats(),
    infra._guard_ip_state(inet),
    infra._guard_stats(integer),
    infra.canonical_network(cidr)
TO infra_viewer;
GRANT SELECT ON infra.blocked_ips, infra.allowed_ips, infra.audit_log TO infra_viewer;

GRANT EXECUTE ON FUNCTION
    infra.block_ip(cidr, interval, text, boolean, boolean),
    infra.unblock_ip(cidr)
TO infra_operator;

GRANT EXECUTE ON FUNCTION
    infra.allow_ip(cidr, text, interval),
    infra.disallow_ip(cidr)
TO infra_admin;

-- At COMMIT: forget list entries of any earlier installation still in shared memory,
-- and wake the launcher so that it starts its duties at once.
SELECT infra._extension_created();
