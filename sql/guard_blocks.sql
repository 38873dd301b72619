-- Blocks: effective when the transaction commits (not before, never after a rollback),
-- a range blocks every address in it, expiry is exact, permanent blocks have no retry.
SELECT network, reason, source, expires_at - created_at AS duration, created_by
  FROM infra.block_ip('198.51.100.7', interval '10 minutes', 'scraper');
SELECT allowed, reason, retry_after_s BETWEEN 599 AND 600 AS retry_is_block_end
  FROM infra.check_request('198.51.100.7');
SELECT reason FROM infra.check_request('198.51.100.8');

-- A range, with the default duration (infra.ddos_block_duration = 1h).
SELECT network, expires_at - created_at AS duration FROM infra.block_ip('203.0.113.0/24', reason => 'bad range');
SELECT ip, (infra.check_request(ip)).reason
  FROM unnest(ARRAY['203.0.113.0', '203.0.113.1', '203.0.113.255', '203.0.114.0']::inet[]) AS ip;
-- The IPv4-mapped IPv6 form of a blocked address is the same client.
SELECT (infra.check_request('::ffff:203.0.113.9')).reason AS mapped;
-- ... and blocking the mapped form stores the IPv4 network.
SELECT network FROM infra.block_ip('::ffff:198.51.100.64/122', interval '5 minutes', 'mapped');
SELECT (infra.check_request('198.51.100.70')).reason;

-- Permanent: no retry time.
SELECT network, expires_at FROM infra.block_ip('192.0.2.200', permanent => true, reason => 'abuse');
SELECT allowed, reason, retry_after_s FROM infra.check_request('192.0.2.200');

-- Re-blocking replaces the block and is audited as such.
SELECT expires_at - created_at AS duration FROM infra.block_ip('198.51.100.7', interval '2 hours', 'scraper, again');
SELECT action FROM infra.audit_log WHERE target = '198.51.100.7/32' ORDER BY id;

-- Not effective before COMMIT, never after ROLLBACK.
BEGIN;
SELECT network FROM infra.block_ip('192.0.2.77', interval '1 hour', 'rolled back');
SELECT (infra.check_request('192.0.2.77')).reason AS before_commit;
ROLLBACK;
SELECT (infra.check_request('192.0.2.77')).reason AS after_rollback;

BEGIN;
SAVEPOINT s1;
SELECT network FROM infra.block_ip('192.0.2.78', interval '1 hour', 'savepoint rolled back');
ROLLBACK TO SAVEPOINT s1;
SELECT network FROM infra.block_ip('192.0.2.79', interval '1 hour', 'kept');
COMMIT;
SELECT (infra.check_request('192.0.2.78')).reason AS rolled_back_savepoint,
       (infra.check_request('192.0.2.79')).reason AS committed;

-- PREPARE TRANSACTION of a list change is refused (it could not be applied at COMMIT
-- PREPARED); the transaction rolls back and nothing is blocked.
BEGIN;
SELECT network FROM infra.block_ip('192.0.2.95', interval '1 hour', 'two-phase');
PREPARE TRANSACTION 'infra_two_phase_block';
SELECT (infra.check_request('192.0.2.95')).reason AS after_refused_prepare,
       (SELECT count(*) FROM infra.blocked_ips WHERE network = '192.0.2.95') AS rows,
       (SELECT count(*) FROM pg_prepared_xacts) AS prepared;

-- Unblock: true once, then false with a notice; nothing else changes.
SELECT infra.unblock_ip('192.0.2.79') AS first, infra.unblock_ip('192.0.2.79') AS second;
SELECT (infra.check_request('192.0.2.79')).reason;
SELECT infra.unblock_ip('203.0.113.5') AS inside_range;
SELECT (infra.check_request('203.0.113.5')).reason AS still_blocked_by_range;

-- Expiry is exact: an expired block stops matching at once, before the keeper runs.
SELECT network FROM infra.block_ip('192.0.2.90', interval '1 second', 'short');
SELECT (infra.check_request('192.0.2.90')).reason AS during;
SELECT pg_sleep(1.2);
SELECT (infra.check_request('192.0.2.90')).reason AS after;

-- Direct changes to the table are applied at commit too (the table is the authority).
INSERT INTO infra.blocked_ips (network, reason, expires_at) VALUES ('192.0.2.91', 'by hand', now() + interval '1 hour');
SELECT (infra.check_request('192.0.2.91')).reason AS inserted;
UPDATE infra.blocked_ips SET network = '192.0.2.92' WHERE network = '192.0.2.91';
SELECT (infra.check_request('192.0.2.91')).reason AS old, (infra.check_request('192.0.2.92')).reason AS new;
DELETE FROM infra.blocked_ips WHERE network = '192.0.2.92';
SELECT (infra.check_request('192.0.2.92')).reason AS deleted;

-- TRUNCATE reloads the lists from the (now empty) table.
BEGIN;
TRUNCATE infra.blocked_ips;
COMMIT;
SELECT (infra.check_request('192.0.2.200')).reason AS after_truncate;
SELECT count(*) FROM infra.blocked_ips;

-- Blocking /0 needs force, and then really blocks everyone.
SELECT network FROM infra.block_ip('0.0.0.0/0', interval '1 minute', 'maintenance', force => true);
SELECT (infra.check_request('8.8.8.8')).reason AS everyone;
SELECT infra.unblock_ip('0.0.0.0/0');
SELECT (infra.check_request('8.8.8.8')).reason AS again;
