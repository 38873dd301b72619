# 002_blocks_persist.pl: manual blocks live in infra.blocked_ips and are mirrored in shared
# memory. They must
#  - survive a clean restart and a crash restart (fresh shared memory): the first check
#    in a new server loads the lists, so the very first call already says 'blocked';
#  - expire: the keeper deletes an expired row within seconds and audits 'block_expired';
#  - reach other sessions at COMMIT (not before), through shared memory.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

my $node = new_infra_node('persist', conf => ['restart_after_crash = on'], create_extension => 1);

my $check = sub {
	my ($ip) = @_;
	return $node->safe_psql('postgres', "SELECT reason FROM infra.check_request('$ip')");
};

# Blocks of each kind, and an allowlisted address inside a blocked range.
$node->safe_psql('postgres', q{
	SELECT infra.block_ip('192.0.2.10', interval '1 hour', 'tap: one address');
	SELECT infra.block_ip('198.51.100.0/24', reason => 'tap: a range', permanent => true);
	SELECT infra.block_ip('2001:db8:1::/48', interval '1 hour', 'tap: an IPv6 range');
	SELECT infra.allow_ip('198.51.100.5', 'tap: allowed inside the blocked range');
});
is($check->('192.0.2.10'), 'blocked', 'address block effective before any restart');

# --- clean restart ----------------------------------------------------------------------
$node->restart;
is($check->('192.0.2.10'), 'blocked', 'after a clean restart: the first check already says blocked');
is($node->safe_psql('postgres',
		"SELECT retry_after_s BETWEEN 3000 AND 3600 FROM infra.check_request('192.0.2.10')"),
	't', 'after a clean restart: the block keeps its end (retry_after ~1 h)');
is($check->('198.51.100.77'), 'blocked', 'after a clean restart: the range still blocks an address inside it');
is($check->('2001:db8:1:2::9'), 'blocked', 'after a clean restart: the IPv6 range still blocks');
is($check->('198.51.100.5'), 'allowlisted', 'after a clean restart: the allowlisted address inside the range stays allowed');
is($check->('192.0.2.11'), 'ok', 'after a clean restart: a neighbour is not blocked');

# Make a tracked entry, to show below that the crash really re-created shared memory.
$node->safe_psql('postgres', "SELECT infra.check_request('203.0.113.50')");
is($node->safe_psql('postgres', "SELECT infra.ip_stats('203.0.113.50')->>'tracked'"),
	'true', 'a client is tracked before the crash');

# --- crash restart ----------------------------------------------------------------------
my $crash_offset = crash_backend($node);
ok($node->log_contains(qr/terminating any other active server processes/, $crash_offset),
	'the backend was killed and the server went through crash restart');
is($check->('192.0.2.10'), 'blocked', 'after a crash: the first check already says blocked');
is($check->('198.51.100.77'), 'blocked', 'after a crash: the range still blocks an address inside it');
is($check->('198.51.100.0'), 'blocked', 'after a crash: the range blocks its first address');
is($check->('2001:db8:1:ffff::1'), 'blocked', 'after a crash: the IPv6 range still blocks');
is($check->('198.51.100.5'), 'allowlisted', 'after a crash: the allowlist still wins inside the range');
is($check->('192.0.2.11'), 'ok', 'after a crash: a neighbour is not blocked');
is($node->safe_psql('postgres', "SELECT infra.ip_stats('203.0.113.50')->>'tracked'"),
	'false', 'after a crash: shared memory is new (the tracked client is forgotten)');
is($node->safe_psql('postgres', "SELECT (infra.ddos_stats()->>'blocklist_entries')::int"),
	'3', 'after a crash: shared memory holds the 3 blocks from the table');

# --- expiry -----------------------------------------------------------------------------
{
	$node->safe_psql('postgres',
		"SELECT infra.block_ip('192.0.2.20', interval '2 seconds', 'tap: short')");
	my $blocked_at = time();
	is($check->('192.0.2.20'), 'blocked', 'a 2-second block is effective at once');
	my $took = wait_for_value($node, 'postgres',
		"SELECT count(*) FROM infra.blocked_ips WHERE network = '192.0.2.20/32'", '0', 15);
	ok(defined $took, 'the keeper deletes the expired block from infra.blocked_ips');
	my $since_block = time() - $blocked_at;
	note(sprintf('expired row deleted %.2f s after the block was made', $since_block));
	cmp_ok($since_block, '<', 6, '... within 4 s of its expiry');
	is($node->safe_psql('postgres',
			"SELECT count(*) || ' ' || min(details->>'source') FROM infra.audit_log "
			  . "WHERE action = 'block_expired' AND target = '192.0.2.20/32' "
			  . "AND acting_role = 'infra launcher'"),
		'1 manual', 'one audit_log row block_expired (source manual) by the launcher');
	is($check->('192.0.2.20'), 'ok', 'the expired block no longer applies');
	is($check->('192.0.2.10'), 'blocked', 'the expiry left the 1-hour block alone');
}

# --- another session sees a block at COMMIT ---------------------------------------------
{
	my $a = $node->background_psql('postgres');
	my $b = $node->background_psql('postgres');
	my $b_check = sub {
		my ($ip) = @_;
		return $b->query_safe("SELECT reason FROM infra.check_request('$ip')");
	};
	is($b_check->('192.0.2.30'), 'ok', 'session B: not blocked at first');

	$a->query_safe('BEGIN');
	$a->query_safe("SELECT infra.block_ip('192.0.2.30', interval '1 hour', 'tap: two sessions')");
	$a->query_safe("SELECT infra.block_ip('192.0.2.128/25', interval '1 hour', 'tap: two sessions, range')");
	is($b_check->('192.0.2.30'), 'ok', 'session B: not blocked while A has not committed');
	is($b_check->('192.0.2.200'), 'ok', 'session B: range not blocked while A has not committed');
	$a->query_safe('COMMIT');
	is($b_check->('192.0.2.30'), 'blocked', 'session B: blocked immediately after A commits');
	is($b_check->('192.0.2.200'), 'blocked', 'session B: the range blocks immediately after A commits');

	$a->query_safe("SELECT infra.unblock_ip('192.0.2.30')");
	is($b_check->('192.0.2.30'), 'ok', 'session B: unblocked immediately after A unblocks');

	$a->query_safe('BEGIN');
	$a->query_safe("SELECT infra.block_ip('192.0.2.31', interval '1 hour', 'tap: rolled back')");
	$a->query_safe('ROLLBACK');
	is($b_check->('192.0.2.31'), 'ok', 'session B: a rolled-back block never applies');

	$a->quit;
	$b->quit;
}

# --- DROP EXTENSION + CREATE EXTENSION in one transaction -------------------------------
# The new extension starts with empty tables: nothing of the old blocklist or allowlist
# may still apply (shared memory must not keep entries whose rows are gone).
{
	$node->safe_psql('postgres', q{
		SELECT infra.block_ip('192.0.2.60', interval '1 hour', 'tap: before re-create');
		SELECT infra.allow_ip('192.0.2.61', 'tap: allowed before re-create');
	});
	is($check->('192.0.2.60'), 'blocked', 'before re-creating the extension: blocked');
	is($check->('192.0.2.61'), 'allowlisted', 'before re-creating the extension: allowlisted');
	$node->safe_psql('postgres',
		'BEGIN; DROP EXTENSION infra_ext; CREATE EXTENSION infra_ext; COMMIT;');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM infra.blocked_ips'),
		'0', 're-created extension: infra.blocked_ips is empty');
	# Give the launcher (woken by CREATE EXTENSION) a moment, then expect the new state.
	usleep(2_000_000);
	is($check->('192.0.2.60'), 'ok',
		're-created in one transaction: the old block no longer applies');
	$node->safe_psql('postgres',
		"SELECT infra.block_ip('192.0.2.61', interval '1 hour', 'tap: after re-create')");
	is($check->('192.0.2.61'), 'blocked',
		're-created in one transaction: the old allowlist entry no longer overrides a new block');
}

$node->stop;
done_testing();
