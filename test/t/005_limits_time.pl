# 005_limits_time.pl: what the guard says about time is true in real time.
#  - rate limit: with infra.ddos_max_requests_per_minute = 5, the 6th request is refused
#    with retry_after_s = r; just before r it is still refused, just after r it is allowed;
#  - strikes older than infra.ddos_strike_window no longer count;
#  - an automatic block of infra.ddos_block_duration (1 min) ends on time, and the keeper
#    deletes its row and audits 'block_expired'.
# All three share one wait of about a minute.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

my $node = new_infra_node('limits',
	conf => [
		'infra.ddos_max_requests_per_minute = 5',
		"infra.ddos_block_duration = '1min'",
		"infra.ddos_strike_window = '10s'",
	],
	create_extension => 1);

my $limited = '192.0.2.50';
my $striker = '192.0.2.51';
my $blocked = '192.0.2.52';

# An automatic block of 1 minute, persisted by the keeper.
is($node->safe_psql('postgres',
		"SELECT r->>'auto_blocked' FROM infra.report_suspicious('$blocked', 'tap', 5) r"),
	'true', 'automatic block made');
my $blocked_at = time();
ok(defined wait_for_value($node, 'postgres',
		"SELECT extract(epoch FROM expires_at - created_at)::int FROM infra.blocked_ips "
		  . "WHERE network = '$blocked/32' AND source = 'auto'", '60', 10),
	'the automatic block is persisted with a 1-minute duration');

# Four strikes (threshold 5), which will be older than the 10 s window later.
is($node->safe_psql('postgres',
		"SELECT (r->>'strikes') || ' ' || (r->>'blocked') FROM infra.report_suspicious('$striker', 'tap', 4) r"),
	'4 false', 'four strikes do not block');

# Five requests allowed, the sixth refused.
# (The retry time is taken from the sixth verdict itself, so that $refused_at, measured
# after the statement returns, is no earlier than the moment it refers to.)
my ($verdicts, $r) = split /\|/, $node->safe_psql('postgres',
	"SELECT string_agg(v.reason, ',' ORDER BY g), max(v.retry_after_s) FILTER (WHERE g = 6) "
	  . "FROM generate_series(1, 6) g, LATERAL infra.check_request('$limited'::inet + 0 * g) v");
my $refused_at = time();
is($verdicts, 'ok,ok,ok,ok,ok,rate_limit_minute', 'five requests allowed, the sixth refused');
note("retry_after_s = $r");
# Sub-buckets are 6 s wide: the first request leaves the 60 s window 60..66 s later.
cmp_ok($r, '>=', 60, 'retry_after_s covers the 60 s window (>= 60)');
cmp_ok($r, '<=', 66, 'retry_after_s is at most 66 s');

# Meanwhile: the four strikes leave the 10 s strike window.
sleep_until($refused_at + 12);
is($node->safe_psql('postgres',
		"SELECT (r->>'strikes') || ' ' || (r->>'blocked') FROM infra.report_suspicious('$striker', 'tap', 1) r"),
	'1 false', 'strikes older than the strike window no longer count');
is($node->safe_psql('postgres', "SELECT reason FROM infra.check_request('$striker')"),
	'ok', '... and the client is not blocked');
is($node->safe_psql('postgres', "SELECT reason FROM infra.check_request('$blocked')"),
	'blocked', 'the 1-minute automatic block still holds after 12 s');

# Just before retry_after: still refused, with a retry of a second or two.
sleep_until($refused_at + $r - 1.5);
is($node->safe_psql('postgres',
		"SELECT reason || ' ' || (retry_after_s BETWEEN 1 AND 2) FROM infra.check_request('$limited')"),
	'rate_limit_minute true', 'retry_after_s - 1.5 s: still refused, retry in 1 or 2 s');

# Just after retry_after: allowed.
sleep_until($refused_at + $r + 0.2);
is($node->safe_psql('postgres', "SELECT reason FROM infra.check_request('$limited')"),
	'ok', 'retry_after_s + 0.2 s: allowed (retry_after_s is honest)');

# The 1-minute automatic block has ended by now (made before the rate-limit requests).
cmp_ok(time() - $blocked_at, '>', 60.2, 'more than a minute has passed since the automatic block');
is($node->safe_psql('postgres', "SELECT reason FROM infra.check_request('$blocked')"),
	'ok', 'the automatic block ended on time');
ok(defined wait_for_value($node, 'postgres',
		"SELECT count(*) FROM infra.blocked_ips WHERE network = '$blocked/32'", '0', 5),
	'the keeper deleted the expired automatic block');
is($node->safe_psql('postgres',
		"SELECT count(*) || ' ' || min(details->>'source') FROM infra.audit_log "
		  . "WHERE action = 'block_expired' AND target = '$blocked/32'"),
	'1 auto', 'audit_log has one block_expired row (source auto)');

$node->stop;
done_testing();
