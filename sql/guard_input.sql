-- Bad input gets a clear error and changes nothing.
\set SHOW_CONTEXT never
SELECT count(*) AS blocks_before FROM infra.blocked_ips \gset
SELECT count(*) AS audit_before FROM infra.audit_log \gset

SELECT * FROM infra.check_request(NULL);
SELECT * FROM infra.check_request('10.0.0.1', -1);
SELECT * FROM infra.check_request('300.1.1.1');
SELECT * FROM infra.check_request('not an address');
SELECT infra.block_ip(NULL);
SELECT infra.block_ip('10.0.0.1/8');
SELECT infra.block_ip('0.0.0.0/0');
SELECT infra.block_ip('::/0');
SELECT infra.block_ip('10.0.0.1', interval '-5 minutes');
SELECT infra.block_ip('10.0.0.1', interval '0');
SELECT infra.block_ip('10.0.0.1', interval '200 years');
SELECT infra.block_ip('10.0.0.1', interval '1 hour', permanent => true);
SELECT infra.block_ip('10.0.0.1', interval '1 hour', '   ');
SELECT infra.block_ip('10.0.0.1', interval '1 hour', NULL);
SELECT infra.report_suspicious(NULL, 'failed_login');
SELECT infra.report_suspicious('10.0.0.1', NULL);
SELECT infra.report_suspicious('10.0.0.1', '');
SELECT infra.report_suspicious('10.0.0.1', 'Failed Login!');
SELECT infra.report_suspicious('10.0.0.1', 'failed_login', 0);
SELECT infra.report_suspicious('10.0.0.1', 'failed_login', 101);
SELECT infra.ip_stats(NULL);
SELECT infra.allow_ip('10.0.0.0/8', '');

-- Blocking inside an allowlisted range is refused.
SELECT network FROM infra.allow_ip('10.20.0.0/16', 'office');
SELECT count(*) AS audit_before FROM infra.audit_log \gset
SELECT infra.block_ip('10.20.30.40', interval '1 hour', 'would be pointless');
SELECT infra.block_ip('10.20.0.0/16', interval '1 hour', 'the whole office');
SELECT count(*) - :audit_before AS new_audit_rows FROM infra.audit_log;
-- A larger range that contains it is allowed, with a notice.
SELECT network FROM infra.block_ip('10.0.0.0/8', interval '1 hour', 'wide');
SELECT (infra.check_request('10.20.1.1')).reason AS office, (infra.check_request('10.21.1.1')).reason AS rest;
SELECT infra.unblock_ip('10.0.0.0/8');
SELECT infra.disallow_ip('10.20.0.0/16'), infra.disallow_ip('10.20.0.0/16');

-- Nothing was changed by the failures above.
SELECT count(*) - :blocks_before AS new_blocks FROM infra.blocked_ips;

-- Roles: a viewer may check but not block; an operator may block but not allowlist.
SET ROLE infra_viewer;
SELECT reason FROM infra.check_request('10.30.0.1');
SELECT infra.block_ip('10.30.0.1');
SELECT * FROM infra.blocked_ips LIMIT 0;
INSERT INTO infra.blocked_ips (network, reason) VALUES ('10.30.0.1', 'sneaky');
RESET ROLE;
SET ROLE infra_operator;
SELECT network, created_by FROM infra.block_ip('10.30.0.2', interval '1 hour', 'operator');
SELECT infra.allow_ip('10.30.0.3', 'operator may not');
SELECT infra.unblock_ip('10.30.0.2');
RESET ROLE;
SELECT acting_role, action, target FROM infra.audit_log WHERE target LIKE '10.30.%' ORDER BY id;
