# 014_http.pl: infra_httpd end to end — a real server process in front of a real
# PostgreSQL with infra_ext, spoken to over real HTTP (HTTP::Tiny and raw sockets).
#
#  (1) /healthz, and the seed's endpoints answering JSON with a request id;
#  (2) authentication: no token / a bad token -> 401 (and a strike), a revoked token
#      -> 401; the role matrix: viewer reads, operator blocks and backs up, admin
#      restores and cleans up; a role without the grant -> 403 with the database's
#      message;
#  (3) bad input: an invalid IP in a path, malformed JSON, an unknown field, a wrong
#      type, an unknown route -> 400/404 with {error: {code, message, requestId}};
#  (4) the guard: an oversized body -> 413 before it is read; a blocked client -> 403;
#      limit + 1 (101) requests in a minute -> 429 with Retry-After and RateLimit headers;
#      X-Forwarded-For from an untrusted peer is ignored, from a trusted one believed;
#      /api/guard/check answers 204 or 403 with the verdict in headers;
#  (5) the audit log records the token's label, the client and the request id;
#  (6) /metrics in Prometheus format;
#  (7) SIGTERM: a request in progress finishes, then the server exits 0.
use strict;
use warnings;

use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(usleep time);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

my $node = new_infra_node('http', conf => ["max_wal_senders = 10", "wal_level = replica"]);
$node->safe_psql('postgres', 'CREATE EXTENSION infra_ext');
sub sql { $node->safe_psql('postgres', @_) }
my %token;
$token{$_} = sql("SELECT infra.create_api_token('infra_$_', 'test $_')")
  for qw(viewer operator admin);

my %httpd = start_infra_httpd($node, trusted_proxies => '127.0.0.2');
my ($pid, $port, $base, $log) = @httpd{qw(pid port url log)};
ok(1, 'infra_httpd starts and /healthz answers 200');
# The test's own calls come from 127.0.0.4, allowlisted so that they never reach a
# limit; the guard's cases use other loopback addresses.
sql("SELECT infra.allow_ip('127.0.0.4', 'the test client')");
my $http = HTTP::Tiny->new(timeout => 10, local_address => '127.0.0.4');
my $json = JSON::PP->new->canonical;
sub call
{
	my ($method, $path, %o) = @_;
	my %headers = %{ $o{headers} // {} };
	$headers{Authorization} = "Bearer $token{$o{as}}" if $o{as};
	my %args = (headers => \%headers);
	if (exists $o{body})
	{
		$args{content} = ref $o{body} ? $json->encode($o{body}) : $o{body};
		$headers{'Content-Type'} = 'application/json';
	}
	my $client = $o{from} ? HTTP::Tiny->new(timeout => 10, local_address => $o{from}) : $http;
	my $r = $client->request($method, "$base$path", \%args);
	my $decoded = eval { $json->decode($r->{content}) };
	return ($r, $decoded);
}

# ---- (1) endpoints ---------------------------------------------------------------------
my ($r, $body) = call('GET', '/api/infrastructure/ddos/stats', as => 'viewer');
is($r->{status}, 200, 'GET ddos/stats as a viewer: 200');
ok(exists $body->{verdicts} && exists $body->{tracked_ips}, '... with the guard statistics');
like($r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{16}$/, '... and a request id');
($r, $body) = call('GET', '/api/infrastructure/ddos/ip/203.0.113.5', as => 'viewer');
is($r->{status}, 200, 'GET ddos/ip/:ip: 200');
($r, $body) = call('GET', '/api/infrastructure/backups', as => 'viewer');
is($r->{status}, 200, 'GET backups: 200');
is(ref $body, 'ARRAY', '... a list');
($r, $body) = call('GET', '/api/infrastructure/backups/stats', as => 'viewer');
ok($r->{status} == 200 && exists $body->{by_kind}, 'GET backups/stats: 200 with the statistics');
($r, $body) = call('GET', '/api/infrastructure/pitr/config', as => 'viewer');
ok($r->{status} == 200 && exists $body->{ready}, 'GET pitr/config: 200 with readiness');
($r, $body) = call('GET', '/api/infrastructure/pitr/stats', as => 'viewer');
ok($r->{status} == 200 && exists $body->{archive}, 'GET pitr/stats: 200');
($r, $body) = call('GET', '/api/infrastructure/pitr/base-backups', as => 'viewer');
ok($r->{status} == 200 && ref $body eq 'ARRAY', 'GET pitr/base-backups: 200, a list');

# ---- (2) authentication and roles ------------------------------------------------------
($r, $body) = call('GET', '/api/infrastructure/ddos/stats', from => '127.0.0.5');
is($r->{status}, 401, 'no token: 401');
is($body->{error}{code}, 'unauthorized', '... code unauthorized');
is($r->{headers}{'www-authenticate'}, 'Bearer', '... asking for a bearer token');
($r, $body) = call('GET', '/api/infrastructure/ddos/stats', from => '127.0.0.5',
	headers => { Authorization => 'Bearer ixt_' . ('0' x 64) });
is($r->{status}, 401, 'a bad token: 401');
like($body->{error}{message}, qr/not valid/, '... saying it is not valid');
is(sql("SELECT (infra.ip_stats('127.0.0.5')->>'strikes')::int >= 2"), 't',
	'... and failed authentications count as strikes against the client');

($r, $body) = call('POST', '/api/infrastructure/ddos/block/198.51.100.20', as => 'viewer',
	body => { reason => 'viewer try' });
is($r->{status}, 403, 'a viewer may not block: 403');
like($body->{error}{message}, qr/permission denied/, '... with the database\'s message');
($r, $body) = call('POST', '/api/infrastructure/ddos/block/198.51.100.20', as => 'operator',
	body => { reason => 'scraper', duration => 30 });
is($r->{status}, 201, 'an operator blocks an address: 201');
is($body->{network}, '198.51.100.20/32', '... and gets the block back');
is(sql("SELECT reason || ' ' || (expires_at - created_at)::text FROM infra.blocked_ips WHERE network = '198.51.100.20/32'"),
	'scraper 00:30:00', '... stored with its reason and a 30-minute duration');
($r, $body) = call('POST', '/api/infrastructure/ddos/unblock/198.51.100.20', as => 'operator');
ok($r->{status} == 200 && $body->{unblocked}, 'an operator unblocks it');
($r, $body) = call('POST', '/api/infrastructure/backups/restore', as => 'operator',
	body => { id => 1, targetDatabase => 'copy' });
is($r->{status}, 403, 'an operator may not restore: 403');
($r, $body) = call('POST', '/api/infrastructure/backups/cleanup', as => 'operator', body => {});
is($r->{status}, 403, 'an operator may not clean up: 403');
($r, $body) = call('POST', '/api/infrastructure/backups/cleanup', as => 'admin',
	body => { dryRun => JSON::PP::true });
ok($r->{status} == 200 && ref $body eq 'ARRAY', 'an admin runs a cleanup dry run: 200');
($r, $body) = call('POST', '/api/infrastructure/backups/create', as => 'operator',
	body => { type => 'manual' });
is($r->{status}, 202, 'an operator creates a backup: 202 (queued)');
my $backup_id = $body->{id};
ok(defined wait_for_value($node, 'postgres',
	"SELECT status FROM infra.backups WHERE id = $backup_id", 'succeeded', 120),
	'... and it finishes');
($r, $body) = call('POST', '/api/infrastructure/pitr/base-backup', as => 'viewer');
is($r->{status}, 403, 'a viewer may not take a base backup: 403');
($r, $body) = call('POST', '/api/infrastructure/pitr/recover', as => 'viewer',
	body => { targetTimestamp => '2026-01-01 00:00:00' });
is($r->{status}, 400, 'a recovery plan without a base backup: 400');
like($body->{error}{message}, qr/no base backup exists/, '... with the database\'s message');
sql("UPDATE infra.api_tokens SET revoked_at = now() WHERE label = 'test admin'");
($r, $body) = call('GET', '/api/infrastructure/ddos/stats', as => 'admin');
is($r->{status}, 401, 'a revoked token: 401');
$token{admin} = sql("SELECT infra.create_api_token('infra_admin', 'test admin 2')");

# ---- (3) bad input ---------------------------------------------------------------------
($r, $body) = call('GET', '/api/infrastructure/ddos/ip/999.1.1.1', as => 'viewer');
is($r->{status}, 400, 'an invalid IP in the path: 400');
like($body->{error}{message}, qr/invalid input syntax for type inet/, '... naming the problem');
($r, $body) = call('POST', '/api/infrastructure/ddos/block/198.51.100.21', as => 'operator',
	body => '{"reason": ');
is($r->{status}, 400, 'malformed JSON: 400');
is($body->{error}{code}, 'malformed_json', '... code malformed_json');
($r, $body) = call('POST', '/api/infrastructure/ddos/block/198.51.100.21', as => 'operator',
	body => { reason => 'x', colour => 'red' });
is($body->{error}{code}, 'unknown_field', 'an unknown field: 400 unknown_field');
like($body->{error}{message}, qr/colour/, '... naming it');
($r, $body) = call('POST', '/api/infrastructure/ddos/block/198.51.100.21', as => 'operator',
	body => { reason => 42 });
is($body->{error}{code}, 'invalid_type', 'a wrong type: 400 invalid_type');
($r, $body) = call('POST', '/api/infrastructure/backups/create', as => 'operator',
	body => { type => 'hourly' });
is($r->{status}, 400, 'an invalid backup type: 400');
like($body->{error}{message}, qr/invalid backup kind/, '... with the database\'s message');
($r, $body) = call('GET', '/api/infrastructure/nothing-here', as => 'viewer');
is($r->{status}, 404, 'an unknown route: 404');
is($body->{error}{code}, 'not_found', '... code not_found');
ok($body->{error}{requestId}, '... with the request id');
is(sql("SELECT count(*) FROM infra.blocked_ips WHERE network = '198.51.100.21/32'"), '0',
	'no refused request wrote anything');

# ---- (4) the guard -----------------------------------------------------------------------
# An oversized body: the 413 arrives before the body is sent.
my $socket = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
  or die "connect: $!";
print $socket "POST /api/infrastructure/backups/create HTTP/1.1\r\nHost: x\r\n"
  . "Authorization: Bearer $token{operator}\r\nContent-Type: application/json\r\n"
  . "Content-Length: 20000000\r\n\r\n";
my $t0 = time();
my $answer = '';
$socket->recv($answer, 4096);
like($answer, qr{^HTTP/1\.1 413}, 'a 20 MB body: 413');
ok(time() - $t0 < 3, '... before the body is sent');
close $socket;

# Limit + 1: the 101st request in a minute from one client is refused.
my $client = '192.0.2.77';
# X-Forwarded-For is believed only from a trusted proxy (127.0.0.2 here, not 127.0.0.1).
call('GET', '/healthz', from => '127.0.0.6', headers => { 'X-Forwarded-For' => '192.0.2.1' });
is(sql("SELECT infra.ip_stats('192.0.2.1')->'minute'->>'count'"), '0',
	'X-Forwarded-For from an untrusted peer is ignored');
my @statuses;
my $limit_status;
my %limit_headers;
for my $n (1 .. 101)
{
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		LocalAddr => '127.0.0.2', Timeout => 5) or die "connect from 127.0.0.2: $!";
	print $sock "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: $client\r\nConnection: close\r\n\r\n";
	local $/;
	my $resp = <$sock>;
	close $sock;
	my ($status) = $resp =~ m{^HTTP/1\.1 (\d+)};
	push @statuses, $status;
	if ($n == 101)
	{
		$limit_status = $status;
		my @pairs = ($resp =~ /^([A-Za-z-]+): ([^\r\n]*)/mg);
		while (my ($name, $value) = splice(@pairs, 0, 2)) { $limit_headers{ lc $name } = $value; }
	}
}
is(scalar(grep { $_ == 200 } @statuses[0 .. 99]), 100,
	'through a trusted proxy, 100 requests of one client in a minute pass');
is($limit_status, 429, '... and the 101st is refused with 429');
my $guard_retry = sql("SELECT infra.ip_stats('$client')->>'retry_after_s'");
ok(($limit_headers{'retry-after'} // -1) >= 1
	  && abs($limit_headers{'retry-after'} - $guard_retry) <= 1,
	"... with the guard's Retry-After ($guard_retry s)")
  or diag("Retry-After: " . ($limit_headers{'retry-after'} // 'none'));
is($limit_headers{'ratelimit-policy'}, '100;w=60, 1000;w=3600', '... a RateLimit-Policy header');
like($limit_headers{'ratelimit'}, qr/^limit=100, remaining=0, reset=\d+$/, '... and a RateLimit header');
is(sql("SELECT (infra.ip_stats('$client')->'minute'->>'count')::int >= 100"), 't',
	'... counted against the forwarded client, not the proxy');

sql("SELECT infra.block_ip('127.0.0.3', interval '1 hour', 'test block')");
my $blocked = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
	LocalAddr => '127.0.0.3', Timeout => 5) or die;
print $blocked "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
my $blocked_answer = do { local $/; <$blocked> };
like($blocked_answer, qr{^HTTP/1\.1 403}, 'a blocked client: 403');
like($blocked_answer, qr/"code":"blocked"/, '... code blocked');

# nginx auth_request's endpoint.
($r) = call('GET', '/api/guard/check', from => '127.0.0.6');
is($r->{status}, 204, '/api/guard/check allows with 204');
is($r->{headers}{'x-infra-verdict'}, 'ok', '... with the verdict in a header');
my $check = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
	LocalAddr => '127.0.0.3', Timeout => 5) or die;
print $check "GET /api/guard/check HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
my $check_answer = do { local $/; <$check> };
like($check_answer, qr{^HTTP/1\.1 403}, '/api/guard/check refuses a blocked client with 403');
like($check_answer, qr/X-Infra-Verdict: blocked/i, '... saying why');

# The fast lane's own database connection: a stuck database holds a lane 2 s at most.
# A keep-alive check from a new client opens it; its backend is then stopped (SIGSTOP), so
# the next check's statement cannot answer: after the lane's 2 s the connection is
# dropped and the thread path answers the check (the database's normal connections are
# untouched); then the lane opens a new connection and answers again.
my $lane_client = HTTP::Tiny->new(timeout => 15, local_address => '127.0.0.7', keep_alive => 1);
my $check_url = "http://127.0.0.1:$port/api/guard/check";
is($lane_client->get($check_url)->{status}, 204, 'a keep-alive guard check (the fast lane): 204');
my $lane_backend = sql("SELECT pid FROM pg_stat_activity
                         WHERE application_name = 'infra_httpd fast lane'");
like($lane_backend, qr/^\d+$/, "... on the lane's own database connection (backend $lane_backend)");
kill 'STOP', $lane_backend;
my $stuck_started = time();
my $through_stuck = $lane_client->get($check_url);
my $stuck_took = time() - $stuck_started;
kill 'CONT', $lane_backend;
is($through_stuck->{status}, 204, 'with that backend stopped, the check is still answered (204)');
ok($stuck_took >= 1.5 && $stuck_took < 6,
	sprintf('... after the lane gave up on the database (%.1f s; the bound is 2 s)', $stuck_took));
is($lane_client->get($check_url)->{status}, 204, '... and the lane answers the next one');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $lane_backend"),
	'... the stuck backend is gone once it runs again (its connection was closed)');

# A blank X-Forwarded-For line beside a real one (from the trusted proxy): no header at all,
# on the lane as on the thread path, so the client is the real entry, not the proxy.
for my $path ([ 'lane', '/api/guard/check', '198.51.100.61' ], [ 'threads', '/healthz', '198.51.100.62' ])
{
	my ($name, $target, $ip) = @$path;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		LocalAddr => '127.0.0.2', Timeout => 5) or die "connect from 127.0.0.2: $!";
	print $sock "GET $target HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: $ip\r\nX-Forwarded-For: \r\n\r\n";
	my $status_line = <$sock>;
	close $sock;
	like($status_line, qr{^HTTP/1\.1 20[04]}, "a blank X-Forwarded-For line ($name): answered");
	is(sql("SELECT infra.ip_stats('$ip')->'minute'->>'count'"), '1',
		"... and counted against $ip, the real entry ($name)");
}

# ---- (5) audit -----------------------------------------------------------------------------
is(sql("SELECT token_label || '|' || http_client || '|' || (request_id ~ '^[0-9a-f]{16}\$')
          FROM infra.audit_log WHERE action = 'block' AND target = '198.51.100.20/32'"),
	'test operator|127.0.0.4|true', 'the audit log names the token, the client and the request');

# ---- (6) metrics ---------------------------------------------------------------------------
($r) = call('GET', '/metrics');
is($r->{status}, 200, '/metrics: 200');
like($r->{content}, qr/^infra_http_requests_total\{route="ddos\/stats",status="200"\} \d+$/m,
	'... HTTP requests by route and status');
like($r->{content}, qr/^infra_http_request_duration_seconds_bucket\{route="ddos\/stats",le="\+Inf"\} \d+$/m,
	'... latency histograms');
like($r->{content}, qr/^infra_guard_verdicts_total\{verdict="rate_limit_minute"\} [1-9]/m,
	'... guard verdicts');
like($r->{content}, qr/^infra_backup_newest_success_timestamp_seconds\{kind="manual"\} \d/m,
	'... the newest backup per kind');
like($r->{content}, qr/^infra_wal_archive_lag_seconds /m, '... the WAL archive lag');
like($r->{content}, qr/^infra_http_connections_open [1-9]\d*$/m,
	'... the connections open now (this one at least)');
like($r->{content}, qr/^infra_http_connections_refused_total 0$/m,
	'... and none refused by the open-connection cap');

# ---- (7) graceful shutdown -----------------------------------------------------------------
kill 'TERM', $pid;
waitpid($pid, 0);
is($? >> 8, 0, 'SIGTERM: infra_httpd exits 0');
like(slurp_file($log), qr/stopping/, '... saying it stops');

$node->stop;
done_testing();
