-- Rate limits: exactly the limit is allowed, refusals do not use quota, retry_after_s
-- says when the next request would pass, and the first refusal in a window is a strike.
-- (In generate_series loops, '+ 0 * g' makes each call depend on the row, so the
-- function runs once per row instead of once per statement.)
SELECT reason, count(*), min(remaining_minute) AS min_remaining_minute,
       max(remaining_minute) AS max_remaining_minute
  FROM generate_series(1, 105) AS g, LATERAL infra.check_request('192.0.2.10'::inet + 0 * g) AS v
 GROUP BY reason ORDER BY reason;

-- The refused requests used no quota: the minute window still holds exactly 100.
SELECT (infra.ip_stats('192.0.2.10')->'minute') AS minute,
       (infra.ip_stats('192.0.2.10')->'hour'->>'count')::int AS hour_count,
       (infra.ip_stats('192.0.2.10')->>'strikes')::int AS strikes;

-- retry_after_s is within the window, and the refusal says which limit.
SELECT allowed, reason, retry_after_s BETWEEN 1 AND 66 AS retry_within_window,
       remaining_minute, remaining_hour
  FROM infra.check_request('192.0.2.10');

-- Another address is not affected.
SELECT allowed, reason, remaining_minute, remaining_hour FROM infra.check_request('192.0.2.11');

-- The hour limit, with a generous minute limit.
ALTER SYSTEM SET infra.ddos_max_requests_per_minute = 2000;
ALTER SYSTEM SET infra.ddos_max_requests_per_hour = 150;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
SHOW infra.ddos_max_requests_per_hour;
SELECT reason, count(*)
  FROM generate_series(1, 160) AS g, LATERAL infra.check_request('192.0.2.12'::inet + 0 * g) AS v
 GROUP BY reason ORDER BY reason;
SELECT allowed, reason, retry_after_s BETWEEN 1 AND 3960 AS retry_within_window
  FROM infra.check_request('192.0.2.12');
ALTER SYSTEM RESET infra.ddos_max_requests_per_minute;
ALTER SYSTEM RESET infra.ddos_max_requests_per_hour;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);

-- Request size: above infra.ddos_max_request_size (10MB) is refused and earns a strike;
-- exactly the limit passes; an oversized request uses no quota.
SELECT reason, remaining_minute FROM infra.check_request('192.0.2.13', 10485760);
SELECT reason, remaining_minute FROM infra.check_request('192.0.2.13', 10485761);
SELECT (infra.ip_stats('192.0.2.13')->>'strikes')::int AS strikes,
       (infra.ip_stats('192.0.2.13')->'minute'->>'count')::int AS counted;
