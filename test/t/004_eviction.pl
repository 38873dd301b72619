# 004_eviction.pl: the tracked-client table has a fixed size (infra.ddos_max_tracked_ips).
# A flood of 20000 distinct addresses into a 1000-entry table must never fail, must keep
# the table within its capacity, must evict the least recently seen clients (not a "hot"
# client that keeps making requests) and must not lift an automatic block.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

my $node = new_infra_node('evict',
	conf => ['infra.ddos_max_tracked_ips = 1000'],
	create_extension => 1);

my $hot = '192.0.2.99';
my $bad = '192.0.2.66';

# An automatically blocked client, before the flood.
is($node->safe_psql('postgres',
		"SELECT r->>'auto_blocked' FROM infra.report_suspicious('$bad', 'credential_stuffing', 5) r"),
	'true', 'a client is blocked automatically before the flood');

my $stats = sub {
	my ($key) = @_;
	return $node->safe_psql('postgres', "SELECT infra.ddos_stats()->>'$key'");
};
my $capacity = $stats->('capacity');
cmp_ok($capacity, '>=', 1000, 'capacity is at least infra.ddos_max_tracked_ips');
cmp_ok($capacity, '<', 1100, 'capacity is close to infra.ddos_max_tracked_ips (< 1100)');

# The flood: 25 batches of 800 new addresses (fewer than the capacity, so that the hot
# client, seen between batches, is never the least recently seen one), with one request
# from the hot client before each batch. All in one session, one statement per batch.
my $batches = 25;
my $per_batch = 800;
my $script = '';
for my $b (0 .. $batches - 1)
{
	my $from = $b * $per_batch + 1;
	my $to = $from + $per_batch - 1;
	$script .= "SELECT 'hot ' || reason FROM infra.check_request('$hot');\n";
	$script .=
	    "SELECT 'batch ' || count(*) FILTER (WHERE v.reason = 'ok') || '/' || count(*) "
	  . "FROM generate_series($from, $to) g, LATERAL infra.check_request('10.0.0.0'::inet + g) v;\n";
}
my ($rc, $out, $err) = $node->psql('postgres', $script, on_error_stop => 1);
is($rc, 0, 'the flood of 20000 distinct addresses runs without error');
is($err, '', '... and without any error or warning output');
my @lines = split /\n/, $out;
is(scalar(grep { $_ eq 'hot ok' } @lines), $batches, 'every request of the hot client was allowed');
is(scalar(grep { $_ eq "batch $per_batch/$per_batch" } @lines),
	$batches, 'every flood request was allowed (each address made one request)');

my $tracked = $stats->('tracked_ips');
cmp_ok($tracked, '<=', $capacity, "tracked_ips ($tracked) stays within the capacity ($capacity)");
cmp_ok($tracked, '>=', $capacity - 1, '... and the table is full');
my $evictions = $stats->('evictions');
cmp_ok($evictions, '>=', 19000, "at least 19000 evictions ($evictions)");
cmp_ok($evictions, '<=', $batches * $per_batch + 2, '... and no more than the new clients');
cmp_ok($stats->('bytes_per_tracked_ip'), '<=', 128, 'at most 128 bytes of shared memory per tracked client');

# The hot client was never evicted: its counts are intact.
is($node->safe_psql('postgres',
		"SELECT (s->>'tracked') || ' ' || (s->'minute'->>'count') || ' ' || (s->'hour'->>'count') "
		  . "FROM infra.ip_stats('$hot') s"),
	"true $batches $batches", 'the hot client is still tracked with all its requests counted');

# The first flood addresses (least recently seen) were evicted, the last ones are tracked.
is($node->safe_psql('postgres',
		"SELECT infra.ip_stats('10.0.0.1')->>'tracked'"),
	'false', 'the oldest flood address was evicted');
is($node->safe_psql('postgres',
		"SELECT infra.ip_stats('10.0.0.0'::inet + " . ($batches * $per_batch) . ")->>'tracked'"),
	'true', 'the newest flood address is tracked');

# The automatic block held through the flood.
is($node->safe_psql('postgres', "SELECT reason FROM infra.check_request('$bad')"),
	'blocked', 'the automatically blocked client is still blocked after the flood');
# Its tracked entry (strikes, offences) was not evicted either: it is under a block.
is($node->safe_psql('postgres', "SELECT infra.ip_stats('$bad')->>'offences'"),
	'1', 'the blocked client\'s entry (offence count) survived the flood');

# --- the same with a partitioned table -----------------------------------------------
# 4096 entries are split into several partitions, each with its own LRU; the totals
# must still add up and the hot client must still survive.
$node->poll_query_until('postgres',
	"SELECT count(*) FROM infra.blocked_ips WHERE network = '$bad/32' AND source = 'auto'", '1')
  or die 'the automatic block was not persisted';
$node->append_conf('postgresql.conf', "infra.ddos_max_tracked_ips = 4096\n");
$node->restart;
# After the restart the keeper restores the blocked client's offence count from the
# audit log, which tracks it again: one more client seen before the flood.
$node->poll_query_until('postgres', "SELECT infra.ip_stats('$bad')->>'offences'", '1')
  or die 'the keeper did not restore the offence count';
$capacity = $stats->('capacity');
cmp_ok($stats->('partitions'), '>', 1, 'partitioned: more than one partition');
cmp_ok($capacity, '>=', 4096, 'partitioned: capacity is at least 4096');
cmp_ok($capacity, '<', 4096 * 1.1, 'partitioned: capacity is close to 4096');
($rc, $out, $err) = $node->psql('postgres', $script, on_error_stop => 1);
is($rc, 0, 'partitioned: the flood runs without error');
@lines = split /\n/, $out;
is(scalar(grep { $_ eq "batch $per_batch/$per_batch" } @lines) + scalar(grep { $_ eq 'hot ok' } @lines),
	2 * $batches, 'partitioned: every request was allowed');
$tracked = $stats->('tracked_ips');
cmp_ok($tracked, '<=', $capacity, "partitioned: tracked_ips ($tracked) stays within the capacity ($capacity)");
cmp_ok($tracked, '>', $capacity * 0.95, 'partitioned: the table is (nearly) full');
$evictions = $stats->('evictions');
is($evictions, $batches * $per_batch + 2 - $tracked,
	"partitioned: evictions ($evictions) = clients seen (flood, hot, restored) - clients tracked");
is($node->safe_psql('postgres',
		"SELECT (s->>'tracked') || ' ' || (s->'minute'->>'count') FROM infra.ip_stats('$hot') s"),
	"true $batches", 'partitioned: the hot client is still tracked with all its requests counted');
is($node->safe_psql('postgres', "SELECT reason FROM infra.check_request('$bad')"),
	'blocked', 'partitioned: the persisted automatic block still applies after the restart and flood');

$node->stop;
done_testing();
