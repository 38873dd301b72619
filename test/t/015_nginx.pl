# 015_nginx.pl: Debian's nginx in front of an application, asking infra_ext's request
# guard through infra_httpd's /api/guard/check (auth_request) — the configuration of
# docs/nginx-infra-guard.conf, run for real: a PostgreSQL node with infra_ext,
# infra_httpd trusting 127.0.0.1 (nginx's address), nginx with two server blocks (the
# guarded front and a static application page behind it), and HTTP clients on several
# loopback addresses.
#
#  (1) the configuration is valid (nginx -t) and nginx starts;
#  (2) 100 requests of one client in a minute get the application's page; the 101st is
#      refused with 429 (not auth_request's 403: error_page maps the guard's verdict)
#      and X-Infra-Verdict, Retry-After and RateLimit headers; the guard counted exactly
#      100 for that client and nothing for nginx's own address; another client passes;
#      nginx sends the checks over a few kept-alive connections (upstream keepalive);
#  (3) the client chain: the test client at 127.0.0.1 shares nginx's (trusted) address,
#      so its X-Forwarded-For is believed, as a load balancer's would be; a client at
#      127.0.0.9 (untrusted) forging X-Forwarded-For is counted as 127.0.0.9 and still
#      meets its limit at request 101;
#  (4) blocked addresses (infra.block_ip) get 403 with the verdict, forwarded or direct;
#  (5) X-Original-Content-Length: a body above infra.ddos_max_request_size -> 413;
#  (6) infra_httpd's metrics count the checks; with infra_httpd stopped, nginx fails
#      closed (500), and both servers stop cleanly.
use strict;
use warnings;

use File::Path qw(make_path);
use HTTP::Tiny;
use IPC::Run;
use POSIX qw(WNOHANG);
use Time::HiRes qw(usleep time);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

my $nginx = $ENV{INFRA_TEST_NGINX} // '/usr/sbin/nginx';
-x $nginx or BAIL_OUT("$nginx is missing: run scripts/install-deps.sh (nginx-light)");

# A small body limit, so that the 413 case fits under nginx's default client_max_body_size.
my $node = new_infra_node('nginx', conf => ["infra.ddos_max_request_size = '64kB'"]);
$node->safe_psql('postgres', 'CREATE EXTENSION infra_ext');
sub sql { $node->safe_psql('postgres', @_) }

# ---- infra_httpd, trusting nginx's address ---------------------------------------------
my %httpd = start_infra_httpd($node, trusted_proxies => '127.0.0.1');
my ($httpd_pid, $guard_port, $httpd_log) = @httpd{qw(pid port log)};
my $direct = HTTP::Tiny->new(timeout => 10);

# ---- nginx: the guarded front and the application behind it ---------------------------
my $dir = $node->basedir . '/nginx';
make_path("$dir/app", "$dir/tmp");
my $marker = 'infra-015-application-page';
open(my $page, '>', "$dir/app/index.html") or die "$dir/app/index.html: $!";
print $page "<!doctype html><title>app</title><p>$marker</p>\n";
close $page;

my $front_port = PostgreSQL::Test::Cluster::get_free_port();
my $app_port = PostgreSQL::Test::Cluster::get_free_port();
# As root (never, since PostgreSQL refuses root), workers would otherwise run as nobody.
my $user = $> == 0 ? 'user ' . getpwuid($>) . ';' : '';
# The server block of docs/nginx-infra-guard.conf without its comments, with this test's
# ports: keep the two identical (the suite's copy of the tree has no docs/ to read).
my $front = <<"EOF";
upstream infra_guard {
    server 127.0.0.1:$guard_port;
    keepalive 16;
}

server {
    listen 127.0.0.1:$front_port;

    location / {
        auth_request /_infra_guard;
        auth_request_set \$infra_verdict \$upstream_http_x_infra_verdict;
        auth_request_set \$infra_retry_after \$upstream_http_retry_after;
        auth_request_set \$infra_ratelimit \$upstream_http_ratelimit;
        auth_request_set \$infra_ratelimit_policy \$upstream_http_ratelimit_policy;
        error_page 403 = \@infra_refused;
        add_header X-Infra-Verdict \$infra_verdict always;

        proxy_pass http://127.0.0.1:$app_port;
        proxy_set_header Host \$host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }

    location = /_infra_guard {
        internal;
        proxy_pass http://infra_guard/api/guard/check;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass_request_body off;
        proxy_pass_request_headers off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_set_header X-Original-Content-Length \$content_length;
        proxy_connect_timeout 2s;
        proxy_read_timeout 5s;
    }

    location \@infra_refused {
        add_header X-Infra-Verdict \$infra_verdict always;
        add_header Retry-After \$infra_retry_after always;
        add_header RateLimit \$infra_ratelimit always;
        add_header RateLimit-Policy \$infra_ratelimit_policy always;
        if (\$infra_verdict ~ ^rate_limit) {
            return 429;
        }
        if (\$infra_verdict = request_too_large) {
            return 413;
        }
        return 403;
    }
}
EOF
open(my $conf, '>', "$dir/nginx.conf") or die "$dir/nginx.conf: $!";
print $conf <<"EOF";
# nginx.conf of 015_nginx.pl: everything (pid, logs, temp files) inside $dir.
$user
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 256; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type text/html;

    # The application: static files (it answers 405 to a POST).
    server {
        listen 127.0.0.1:$app_port;
        root $dir/app;
    }

$front}
EOF
close $conf;

my @nginx_args = ('-p', "$dir/", '-c', "$dir/nginx.conf");
my ($test_out, $test_err);
IPC::Run::run([ $nginx, '-t', @nginx_args ], '>', \$test_out, '2>', \$test_err);
ok($? == 0 && $test_err =~ /syntax is ok/, 'nginx -t accepts the configuration')
  or diag($test_err);

my $nginx_pid = fork();
die "fork: $!" unless defined $nginx_pid;
if ($nginx_pid == 0)
{
	open(STDERR, '>', "$dir/stderr.log") or die;
	exec($nginx, @nginx_args) or die "exec: $!";
}
my $nginx_up = 0;
for (1 .. 100)
{
	last if waitpid($nginx_pid, WNOHANG) == $nginx_pid;
	if ($direct->get("http://127.0.0.1:$app_port/")->{status} == 200) { $nginx_up = 1; last; }
	usleep(100_000);
}
ok($nginx_up, 'nginx starts')
  or BAIL_OUT("nginx did not start:\n" . slurp_file("$dir/stderr.log")
	  . slurp_file("$dir/error.log"));

# ---- clients --------------------------------------------------------------------------
# One keep-alive agent per local address; forwarded_for is the X-Forwarded-For the client
# itself sends (nginx appends the peer address to it).
my %agents;
sub through_nginx
{
	my (%o) = @_;
	my $from = $o{from} // '127.0.0.1';
	my $agent = $agents{$from} //= HTTP::Tiny->new(timeout => 10, local_address => $from);
	my %headers;
	$headers{'X-Forwarded-For'} = $o{forwarded_for} if defined $o{forwarded_for};
	my %args = (headers => \%headers);
	$args{content} = $o{body} if defined $o{body};
	return $agent->request($o{method} // 'GET', "http://127.0.0.1:$front_port/", \%args);
}
sub guard_count
{
	my ($ip, $window) = @_;
	return sql("SELECT infra.ip_stats('$ip')->'$window'->>'count'");
}
sub served { my ($r) = @_; return $r->{status} == 200 && $r->{content} =~ /\Q$marker\E/; }

# ---- (2) the limit ---------------------------------------------------------------------
my $nginx_own_count = guard_count('127.0.0.1', 'minute');
my $client = '192.0.2.10';
my $t0 = time();
my @answers = map { through_nginx(forwarded_for => $client) } 1 .. 100;
my $took = time() - $t0;
is(scalar(grep { served($_) } @answers), 100,
	'100 requests of one client in a minute: each gets the application page (200)')
  or diag(join(' ', map { $_->{status} } @answers));
ok($took < 50, sprintf('... all within the minute (%.1f s)', $took));
is($answers[0]{headers}{'x-infra-verdict'}, 'ok', '... with X-Infra-Verdict: ok');

my $refused = through_nginx(forwarded_for => $client);
is($refused->{status}, 429, 'the 101st is refused with 429 (the verdict mapped by error_page)');
unlike($refused->{content}, qr/\Q$marker\E/, '... without reaching the application');
is($refused->{headers}{'x-infra-verdict'}, 'rate_limit_minute',
	'... X-Infra-Verdict: rate_limit_minute');
my $guard_retry = sql("SELECT infra.ip_stats('$client')->>'retry_after_s'");
ok(($refused->{headers}{'retry-after'} // -1) >= 1
	  && abs($refused->{headers}{'retry-after'} - $guard_retry) <= 1,
	"... Retry-After as the guard computes it ($guard_retry s)")
  or diag('Retry-After: ' . ($refused->{headers}{'retry-after'} // 'none'));
like($refused->{headers}{'ratelimit'} // '', qr/^limit=100, remaining=0, reset=\d+$/,
	'... and the RateLimit header');
is($refused->{headers}{'ratelimit-policy'}, '100;w=60, 1000;w=3600', '... and RateLimit-Policy');

is(guard_count($client, 'minute'), '100',
	"the guard counted the 100 allowed requests against $client (minute)");
is(guard_count($client, 'hour'), '100', '... and in the hour window');
is(guard_count('127.0.0.1', 'minute'), $nginx_own_count,
	"... and none against nginx's own address ($nginx_own_count from the test's start-up)");
ok(served(through_nginx(forwarded_for => '192.0.2.11')), 'another client still gets the page');

# Upstream keepalive: the checks travelled over a few kept-open connections, not one
# connection each (which would leave ~100 closed ones in TIME-WAIT on infra_httpd's side).
sub guard_port_sockets    # by TCP state: '01' established, '06' TIME-WAIT (/proc/net/tcp)
{
	my ($state) = @_;
	my $local = sprintf(':%04X', $guard_port);
	open(my $tcp, '<', '/proc/net/tcp') or return -1;
	my $n = grep { my @f = split; $f[1] =~ /\Q$local\E$/ && $f[3] eq $state } <$tcp>;
	close $tcp;
	return $n;
}
my ($kept_open, $closed) = (guard_port_sockets('01'), guard_port_sockets('06'));
ok($kept_open >= 1 && $kept_open <= 16 && $closed < 10,
	"nginx reuses its connections to infra_httpd ($kept_open open, $closed closed)");

# ---- (3) forged X-Forwarded-For ----------------------------------------------------------
# 127.0.0.9 is an ordinary client: what it writes into X-Forwarded-For, even a chain that
# seems to pass a trusted proxy, stays left of the address nginx appends.
my @forged = map { through_nginx(from => '127.0.0.9', forwarded_for => "198.51.100.$_, 127.0.0.1") }
  1 .. 101;
is(scalar(grep { served($_) } @forged[0 .. 99]), 100,
	'an untrusted client forging X-Forwarded-For: its first 100 requests pass');
is($forged[100]{status}, 429, '... the 101st is refused all the same (429)');
is(guard_count('127.0.0.9', 'minute'), '100', '... because each was counted against 127.0.0.9');
is(sql("SELECT sum((infra.ip_stats(('198.51.100.' || n)::inet)->'minute'->>'count')::int)
          FROM generate_series(1, 101) n"), '0', '... and none against the forged addresses');

# ---- (4) blocked addresses -----------------------------------------------------------------
sql("SELECT infra.block_ip('192.0.2.66', interval '1 hour', 'test block')");
my $blocked = through_nginx(forwarded_for => '192.0.2.66');
is($blocked->{status}, 403, 'a client blocked with infra.block_ip: 403');
is($blocked->{headers}{'x-infra-verdict'}, 'blocked', '... X-Infra-Verdict: blocked');
unlike($blocked->{content}, qr/\Q$marker\E/, '... without reaching the application');
sql("SELECT infra.block_ip('127.0.0.3', interval '1 hour', 'test block')");
is(through_nginx(from => '127.0.0.3')->{status}, 403, 'a blocked peer of nginx: 403');

# ---- (5) the original body size ----------------------------------------------------------
my $large = through_nginx(method => 'POST', forwarded_for => '192.0.2.77', body => 'x' x 100_000);
is($large->{status}, 413, 'a 100 kB body (guard limit 64 kB): 413');
is($large->{headers}{'x-infra-verdict'}, 'request_too_large',
	'... X-Infra-Verdict: request_too_large');
my $small = through_nginx(method => 'POST', forwarded_for => '192.0.2.78', body => 'x' x 1_000);
ok($small->{status} == 405 && ($small->{headers}{'x-infra-verdict'} // '') eq 'ok',
	'a 1 kB body passes the guard (the static application answers 405 to POST)')
  or diag("status $small->{status}");

# ---- (6) metrics, failing closed, shutdown -----------------------------------------------
my $metrics = $direct->get("http://127.0.0.1:$guard_port/metrics")->{content};
sub checks_answered
{
	my ($status) = @_;
	my $series = qq(infra_http_requests_total{route="guard/check",status="$status"});
	my ($count) = $metrics =~ /^\Q$series\E (\d+)$/m;
	return $count // 'none';
}
my ($allowed_checks, $refused_checks) = (checks_answered(204), checks_answered(403));
# 202 allowed (100 + 1 + 100 + 1) and 5 refused (two limits, two blocks, one size).
is("$allowed_checks allowed, $refused_checks refused",
	'202 allowed, 5 refused', "infra_httpd's metrics count every check nginx made");

kill 'TERM', $httpd_pid;
waitpid($httpd_pid, 0);
is($? >> 8, 0, 'infra_httpd stops on SIGTERM');
is(through_nginx(forwarded_for => '192.0.2.90')->{status}, 500,
	'with infra_httpd gone, nginx refuses (500): the guard fails closed');

kill 'QUIT', $nginx_pid;    # graceful shutdown
waitpid($nginx_pid, 0);
is($?, 0, 'nginx stops on SIGQUIT');
unlike(slurp_file("$dir/error.log"), qr/\[(?:alert|emerg)\]/, "nginx's error log has no alert");

$node->stop;
done_testing();
