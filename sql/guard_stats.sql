-- ddos_stats: the documented keys with the right types, and counters that move.
SELECT key, jsonb_typeof(value) AS type
  FROM jsonb_each(infra.ddos_stats())
 WHERE key IN ('tracked_ips', 'capacity', 'evictions', 'verdicts', 'blocked_addresses',
               'blocked_ranges', 'auto_blocks_last_hour', 'top_ips', 'settings')
 ORDER BY key;
SELECT (infra.ddos_stats()->>'capacity')::int >= 100000 AS capacity_at_least_setting,
       (infra.ddos_stats()->>'bytes_per_tracked_ip')::numeric <= 128 AS within_128_bytes;
SELECT (infra.ddos_stats()->'verdicts'->>'ok')::bigint AS ok_before \gset
SELECT (infra.ddos_stats()->>'tracked_ips')::bigint AS tracked_before \gset
SELECT count(*) FROM generate_series(1, 7) g, LATERAL infra.check_request(('192.0.2.' || (170 + g))::inet);
SELECT (infra.ddos_stats()->'verdicts'->>'ok')::bigint - :ok_before AS new_ok,
       (infra.ddos_stats()->>'tracked_ips')::bigint - :tracked_before AS new_tracked;
SELECT jsonb_object_keys(infra.ddos_stats()->'verdicts') ORDER BY 1;
SELECT infra.ddos_stats()->'settings'->'ddos_max_requests_per_minute'->>'value' AS per_minute,
       infra.ddos_stats()->'settings'->'ddos_max_request_size'->>'text' AS max_size;
-- The busiest client so far is the one that hit the limits hardest.
SELECT infra.ddos_stats()->'top_ips'->0->>'key' IS NOT NULL AS has_top_ip;
-- ip_stats of an address never seen.
SELECT infra.ip_stats('192.0.2.250') - 'first_seen' - 'last_seen' AS unseen;
