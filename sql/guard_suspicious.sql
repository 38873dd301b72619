-- Suspicious activity: strikes add up within infra.ddos_strike_window; reaching
-- infra.ddos_suspicious_threshold (5) blocks the client automatically, at once, for
-- infra.ddos_block_duration; a repeat offender's block doubles, capped at
-- infra.ddos_max_block_duration.
-- (In generate_series loops, '+ 0 * g' makes each call depend on the row, so the
-- function runs once per row instead of once per statement.)
SELECT (r->>'strikes')::int AS strikes, (r->>'blocked')::boolean AS blocked
  FROM generate_series(1, 4) AS g, LATERAL infra.report_suspicious('198.18.0.1'::inet + 0 * g, 'failed_login') AS r;
SELECT (infra.check_request('198.18.0.1')).reason AS after_four;
SELECT r->>'strikes' AS strikes, r->>'auto_blocked' AS auto_blocked, r->>'blocked' AS blocked,
       round(extract(epoch FROM (r->>'blocked_until')::timestamptz - now()) / 60) AS minutes
  FROM infra.report_suspicious('198.18.0.1', 'failed_login') AS r;
SELECT allowed, reason, retry_after_s BETWEEN 3590 AND 3600 AS retry_is_block_end
  FROM infra.check_request('198.18.0.1');
SELECT infra.ip_stats('198.18.0.1')->'block'->>'source' AS source,
       infra.ip_stats('198.18.0.1')->'block'->>'network' AS network,
       (infra.ip_stats('198.18.0.1')->>'offences')::int AS offences;

-- Second offence: after an unblock, five more strikes block for twice as long.
SELECT infra.unblock_ip('198.18.0.1') AS unblocked;
SELECT (infra.check_request('198.18.0.1')).reason AS after_unblock;
SELECT round(extract(epoch FROM (r->>'blocked_until')::timestamptz - now()) / 60) AS minutes
  FROM infra.report_suspicious('198.18.0.1', 'scanner_path', 5) AS r;

-- Weight counts as several strikes; a weight-5 report blocks a fresh client at once.
SELECT r->>'auto_blocked' AS auto_blocked
  FROM infra.report_suspicious('198.18.0.2', 'sql_injection', 5) AS r;

-- Oversized requests are strikes too.
SELECT string_agg(reason, ',' ORDER BY g) AS verdicts
  FROM generate_series(1, 6) AS g, LATERAL infra.check_request('198.18.0.3'::inet + 0 * g, 20000000) AS v;

-- Rate-limit refusals strike once per window: 300 requests over the limit give one strike.
SELECT reason, count(*)
  FROM generate_series(1, 400) AS g, LATERAL infra.check_request('198.18.0.4'::inet + 0 * g) AS v
 GROUP BY reason ORDER BY reason;
SELECT (infra.ip_stats('198.18.0.4')->>'strikes')::int AS strikes;

-- Allowlisted clients are never limited and never blocked automatically.
SELECT network FROM infra.allow_ip('198.18.1.0/24', 'load balancer health checks');
SELECT reason, count(*)
  FROM generate_series(1, 300) AS g, LATERAL infra.check_request('198.18.1.5'::inet + 0 * g) AS v
 GROUP BY reason;
SELECT r->>'allowlisted' AS allowlisted, r->>'blocked' AS blocked
  FROM infra.report_suspicious('198.18.1.5', 'failed_login', 100) AS r;
SELECT (infra.check_request('198.18.1.5')).reason;

-- The keeper persists automatic blocks to infra.blocked_ips within about a second (the
-- loop allows 30 s because the launcher may still be connecting to this new database).
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN (SELECT count(*) FROM infra.blocked_ips
                    WHERE network IN ('198.18.0.1/32', '198.18.0.2/32', '198.18.0.3/32')) = 3;
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;
SELECT network, source, created_by, round(extract(epoch FROM expires_at - created_at) / 60) AS minutes
  FROM infra.blocked_ips WHERE network <<= '198.18.0.0/24' ORDER BY network;
SELECT target, max(details->>'offence') AS last_offence FROM infra.audit_log
 WHERE action = 'auto_block' AND target LIKE '198.18.0.%' GROUP BY target ORDER BY target;
