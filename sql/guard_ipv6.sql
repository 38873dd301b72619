-- IPv6 clients are counted per /64 (infra.ddos_ipv6_prefix), so rotating addresses
-- inside one /64 shares one quota; IPv4-mapped IPv6 is the IPv4 client.
SELECT reason, count(*)
  FROM generate_series(1, 110) AS g,
       LATERAL infra.check_request(('2001:db8:1:2::' || to_hex(g))::inet) AS v
 GROUP BY reason ORDER BY reason;
SELECT infra.ip_stats('2001:db8:1:2:ffff::1')->>'key' AS key,
       (infra.ip_stats('2001:db8:1:2:ffff::1')->'minute'->>'count')::int AS counted;
-- The neighbouring /64 has its own quota.
SELECT reason FROM infra.check_request('2001:db8:1:3::1');

-- IPv4-mapped addresses count with the plain IPv4 address.
SELECT (infra.check_request('192.0.2.150')).remaining_minute AS v4,
       (infra.check_request('::ffff:192.0.2.150')).remaining_minute AS mapped,
       infra.ip_stats('::ffff:192.0.2.150')->>'key' AS key;

-- Blocking an IPv6 range blocks every address in it; an auto block covers the /64.
SELECT network FROM infra.block_ip('2001:db8:ff00::/40', interval '1 hour', 'v6 range');
SELECT (infra.check_request('2001:db8:ff12:3456::9')).reason AS inside,
       (infra.check_request('2001:db8:fe00::1')).reason AS outside;
SELECT r->>'auto_blocked' AS auto_blocked
  FROM infra.report_suspicious('2001:db8:5:6::1', 'failed_login', 5) AS r;
SELECT (infra.check_request('2001:db8:5:6:abcd::1')).reason AS same_64,
       (infra.check_request('2001:db8:5:7::1')).reason AS other_64,
       infra.ip_stats('2001:db8:5:6::77')->'block'->>'network' AS blocked_network;
