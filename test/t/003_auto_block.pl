# 003_auto_block.pl: automatic blocks (report_suspicious reaching the threshold).
#  - effective in every other session at once (shared memory);
#  - persisted by the keeper into infra.blocked_ips (source 'auto', created_by
#    'infra launcher') within a few seconds, with an audit_log row 'auto_block';
#  - a repeat offender's next block lasts twice as long (infra.ddos_block_duration = 1min
#    here, so the second block is 2 min);
#  - after a crash (fresh shared memory), the persisted automatic blocks still block.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

my $node = new_infra_node('auto',
	conf => ["infra.ddos_block_duration = '1min'", 'restart_after_crash = on']);
my $offset = -s $node->logfile;
$node->safe_psql('postgres', 'CREATE EXTENSION infra_ext');
# Measure persistence latency against a launcher that is already at work.
$node->wait_for_log(qr/infra launcher: infra_ext found in database "postgres"/, $offset);

my $persisted_query = sub {
	my ($network) = @_;
	return "SELECT count(*) FROM infra.blocked_ips WHERE network = '$network' "
	  . "AND source = 'auto' AND created_by = 'infra launcher'";
};

# --- first offence ----------------------------------------------------------------------
my $other = $node->background_psql('postgres');
is($other->query_safe("SELECT reason FROM infra.check_request('192.0.2.40')"),
	'ok', 'session B: the client is allowed at first');

my $t0 = time();
my $report = $node->safe_psql('postgres',
	"SELECT r->>'auto_blocked' FROM infra.report_suspicious('192.0.2.40', 'sql_injection', 5) r");
is($report, 'true', 'a weight-5 report blocks the client automatically');
is($other->query_safe("SELECT reason FROM infra.check_request('192.0.2.40')"),
	'blocked', 'session B (already connected): blocked at once');

my $took = wait_for_value($node, 'postgres', $persisted_query->('192.0.2.40/32'), '1', 10);
ok(defined $took, 'the keeper persists the automatic block (source auto, created_by infra launcher)');
my $latency = time() - $t0;
note(sprintf('automatic block persisted %.2f s after the report', $latency));
cmp_ok($latency, '<', 3, '... in under 3 s');
is($node->safe_psql('postgres',
		"SELECT extract(epoch FROM expires_at - created_at)::int FROM infra.blocked_ips "
		  . "WHERE network = '192.0.2.40/32'"),
	'60', 'the first automatic block lasts infra.ddos_block_duration (1 min)');
is($node->safe_psql('postgres',
		"SELECT count(*) || ' ' || min(details->>'offence') FROM infra.audit_log "
		  . "WHERE action = 'auto_block' AND target = '192.0.2.40/32'"),
	'1 1', 'one audit_log row auto_block, offence 1');
is($node->safe_psql('postgres',
		"SELECT (infra.ddos_stats()->>'auto_blocks_pending_persist')::int"),
	'0', 'nothing is left pending persistence');
is($other->query_safe("SELECT reason FROM infra.check_request('192.0.2.40')"),
	'blocked', 'session B: still blocked once the row is written');

# --- escalation -------------------------------------------------------------------------
is($node->safe_psql('postgres', "SELECT infra.unblock_ip('192.0.2.40')"),
	't', 'unblock_ip removes the automatic block');
is($other->query_safe("SELECT reason FROM infra.check_request('192.0.2.40')"),
	'ok', 'session B: allowed again after the unblock');
is($node->safe_psql('postgres',
		"SELECT round(extract(epoch FROM (r->>'blocked_until')::timestamptz - now()) / 60) "
		  . "FROM infra.report_suspicious('192.0.2.40', 'sql_injection', 5) r"),
	'2', 'the second offence blocks for twice as long (2 min)');
is($other->query_safe("SELECT reason FROM infra.check_request('192.0.2.40')"),
	'blocked', 'session B: blocked again at once');
ok(defined wait_for_value($node, 'postgres',
		"SELECT extract(epoch FROM expires_at - created_at)::int FROM infra.blocked_ips "
		  . "WHERE network = '192.0.2.40/32' AND source = 'auto'",
		'120', 5),
	'the keeper persists the second block with its 2-minute duration');
is($node->safe_psql('postgres',
		"SELECT string_agg(details->>'offence', ',' ORDER BY id) FROM infra.audit_log "
		  . "WHERE action = 'auto_block' AND target = '192.0.2.40/32'"),
	'1,2', 'audit_log has both offences');

# A second client, blocked just before the crash, persisted too.
$node->safe_psql('postgres', "SELECT infra.report_suspicious('192.0.2.41', 'scanner_path', 5)");
ok(defined wait_for_value($node, 'postgres', $persisted_query->('192.0.2.41/32'), '1', 5),
	'a second automatic block is persisted');
$other->quit;

# --- crash ------------------------------------------------------------------------------
my $crash_offset = crash_backend($node);
ok($node->log_contains(qr/terminating any other active server processes/, $crash_offset),
	'the server went through crash restart');
is($node->safe_psql('postgres', "SELECT reason FROM infra.check_request('192.0.2.41')"),
	'blocked', 'after the crash: the persisted automatic block still blocks (first call)');
is($node->safe_psql('postgres', "SELECT reason FROM infra.check_request('192.0.2.40')"),
	'blocked', 'after the crash: the persisted second block still blocks');
is($node->safe_psql('postgres',
		"SELECT retry_after_s BETWEEN 100 AND 120 FROM infra.check_request('192.0.2.40')"),
	't', 'after the crash: the block keeps its end (retry_after within its 2 minutes)');
is($node->safe_psql('postgres',
		"SELECT (s->'block'->>'source') || ' ' || (s->'block'->>'pending_persist') "
		  . "FROM infra.ip_stats('192.0.2.41') s"),
	'auto false',
	'after the crash: the block is known as automatic and not pending');
is($node->safe_psql('postgres', "SELECT reason FROM infra.check_request('192.0.2.42')"),
	'ok', 'after the crash: a neighbour is not blocked');
# The keeper did not write the persisted blocks twice.
is($node->safe_psql('postgres',
		"SELECT count(*) FROM infra.audit_log WHERE action = 'auto_block' AND target = '192.0.2.41/32'"),
	'1', 'after the crash: no duplicate auto_block audit rows');

# The escalation count survives the crash: the keeper restores it from the audit log.
ok(defined wait_for_value($node, 'postgres',
		"SELECT infra.ip_stats('192.0.2.40')->>'offences'", '2', 30),
	'after the crash: the keeper restores the offence count of 192.0.2.40 (2)');
is($node->safe_psql('postgres', "SELECT infra.unblock_ip('192.0.2.40')"),
	't', 'after the crash: unblock_ip removes the second block');
is($node->safe_psql('postgres',
		"SELECT round(extract(epoch FROM (r->>'blocked_until')::timestamptz - now()) / 60) "
		  . "FROM infra.report_suspicious('192.0.2.40', 'sql_injection', 5) r"),
	'4', 'after the crash: the third offence blocks for four times as long (4 min)');

$node->stop;
done_testing();
