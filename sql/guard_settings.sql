-- The settings: validated, server-wide (not per session), reloadable with SIGHUP.
-- (In generate_series loops, '+ 0 * g' makes each call depend on the row, so the
-- function runs once per row instead of once per statement.)
\set SHOW_CONTEXT never
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'infra.%' ORDER BY name;
ALTER SYSTEM SET infra.ddos_max_requests_per_minute = 0;
ALTER SYSTEM SET infra.ddos_max_requests_per_minute = -5;
ALTER SYSTEM SET infra.ddos_max_requests_per_hour = 0;
ALTER SYSTEM SET infra.ddos_max_request_size = '10TB';
ALTER SYSTEM SET infra.ddos_max_request_size = 0;
ALTER SYSTEM SET infra.ddos_block_duration = 0;
ALTER SYSTEM SET infra.ddos_suspicious_threshold = 0;
ALTER SYSTEM SET infra.ddos_ipv6_prefix = 200;
ALTER SYSTEM SET infra.ddos_strike_window = '1s';
ALTER SYSTEM SET infra.ddos_max_tracked_ips = 10;
-- Limits are the server's policy: a session cannot raise its own.
SET infra.ddos_max_requests_per_minute = 1000000;
SET infra.ddos_max_requests_per_minute = 10;
-- A valid value takes effect on reload.
ALTER SYSTEM SET infra.ddos_max_requests_per_minute = 3;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
SELECT string_agg(reason, ',' ORDER BY g)
  FROM generate_series(1, 4) AS g, LATERAL infra.check_request('192.0.2.160'::inet + 0 * g) AS v;
ALTER SYSTEM RESET infra.ddos_max_requests_per_minute;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
SHOW infra.ddos_max_requests_per_minute;
