# InfraTest.pm: what the TAP tests in this folder (test/t/*.pl) share, so that each test
# file holds only its own steps and checks:
#  - new_infra_node: a PostgreSQL::Test::Cluster node with infra_ext preloaded and
#    infra.database set (plus any extra postgresql.conf lines), started and, if asked,
#    with the extension created;
#  - wait_for_value, wait_for_log_line, sleep_until: waiting with a deadline, for a query
#    result, a server log line or a moment in time;
#  - crash_backend: a crash restart (fresh shared memory) by killing one backend;
#  - start_infra_httpd: infra_httpd in front of a node, as a child process, once its
#    /healthz answers.
# A test file loads it with
#   use FindBin;
#   use lib $FindBin::RealBin;
#   use InfraTest;
package InfraTest;

use strict;
use warnings;

use Carp;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use HTTP::Tiny;
use Test::More ();
use Time::HiRes qw(time usleep);

our @EXPORT = qw(
  new_infra_node
  wait_for_value
  wait_for_log_line
  sleep_until
  crash_backend
  start_infra_httpd
);

# Creates and initialises node $name, appends to its postgresql.conf
#   shared_preload_libraries = 'infra_ext'
#   infra.database = '<database>'
# and then the lines of conf, and returns the node. Options:
#   database         => infra.database (default 'postgres');
#   conf             => [extra postgresql.conf lines] (default none);
#   start            => start the node (default 1); 0 leaves starting to the caller, for
#                       example to start two nodes together;
#   create_extension => run CREATE EXTENSION infra_ext in infra.database once started
#                       (default 0).
sub new_infra_node
{
	my ($name, %opts) = @_;
	my $database = delete $opts{database} // 'postgres';
	my $conf = delete $opts{conf} // [];
	my $start = delete $opts{start} // 1;
	my $create_extension = delete $opts{create_extension} // 0;
	croak 'new_infra_node: unknown options: ' . join(', ', sort keys %opts) if %opts;
	croak 'new_infra_node: create_extension needs start' if $create_extension && !$start;

	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		join('', map { "$_\n" } "shared_preload_libraries = 'infra_ext'",
			"infra.database = '$database'", @$conf));
	return $node unless $start;
	$node->start;
	$node->safe_psql($database, 'CREATE EXTENSION infra_ext') if $create_extension;
	return $node;
}

# Calls $done every $interval seconds until it returns true or $seconds pass; returns the
# seconds it took, or undef on timeout.
sub _poll
{
	my ($seconds, $interval, $done) = @_;
	my $start = time();
	while (time() - $start < $seconds)
	{
		return time() - $start if $done->();
		usleep(int($interval * 1_000_000));
	}
	return undef;
}

# Polls $query in database $db until it succeeds and returns $expected, or $seconds pass;
# returns the seconds it took, or undef on timeout.
sub wait_for_value
{
	my ($node, $db, $query, $expected, $seconds) = @_;
	return _poll(
		$seconds, 0.05,
		sub {
			my ($rc, $out, $err) = $node->psql($db, $query);
			return $rc == 0 && $out eq $expected;
		});
}

# Polls the server log (from byte $offset) for $regex; returns the seconds it took, or
# undef after $seconds.
sub wait_for_log_line
{
	my ($node, $regex, $offset, $seconds) = @_;
	return _poll($seconds, 0.1, sub { slurp_file($node->logfile, $offset) =~ $regex });
}

# Sleeps until time() reaches $at (returns at once if it has).
sub sleep_until
{
	my ($at) = @_;
	my $left = $at - time();
	usleep(int($left * 1_000_000)) if $left > 0;
	return;
}

# Kills one ordinary backend with SIGKILL: the postmaster then terminates every process,
# re-creates shared memory and runs crash recovery (the node needs
# restart_after_crash = on). Returns, once the server accepts connections again, the log
# offset from before the kill.
sub crash_backend
{
	my ($node) = @_;
	my $victim = $node->background_psql('postgres');
	my $pid = $victim->query_safe('SELECT pg_backend_pid()');
	my $offset = -s $node->logfile;
	kill 'KILL', $pid or die "cannot kill backend $pid: $!";
	$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
	$node->poll_query_until('postgres', 'SELECT 1', '1')
	  or die 'server did not come back after the crash';
	$victim->quit;
	return $offset;
}

# Starts infra_httpd ($ENV{INFRA_HTTPD} or /usr/local/bin/infra_httpd) for $node's
# database as the login role infra_web (created here, a member of infra_httpd), on a free
# port of 127.0.0.1, with its stderr in the node's directory; returns once /healthz
# answers 200 (BAIL_OUT otherwise). Options: trusted_proxies => '...', static => DIR.
# Returns a hash: pid, port, url ("http://127.0.0.1:<port>"), log.
sub start_infra_httpd
{
	my ($node, %opts) = @_;
	my $httpd = $ENV{INFRA_HTTPD} // '/usr/local/bin/infra_httpd';
	-x $httpd or Test::More::BAIL_OUT("$httpd is missing: run scripts/build.sh first");
	$node->safe_psql('postgres', "DO \$\$ BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'infra_web') THEN
			CREATE ROLE infra_web LOGIN IN ROLE infra_httpd;
		END IF; END \$\$");
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $log = $node->basedir . "/infra_httpd_$port.log";
	my @args = ('--listen', "127.0.0.1:$port", '--db',
		sprintf('host=%s port=%d dbname=postgres user=infra_web', $node->host, $node->port));
	push @args, '--trusted-proxies', $opts{trusted_proxies} if $opts{trusted_proxies};
	push @args, '--static', $opts{static} if $opts{static};
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDERR, '>', $log) or die "$log: $!";
		exec($httpd, @args) or die "exec $httpd: $!";
	}
	my $url = "http://127.0.0.1:$port";
	my $probe = HTTP::Tiny->new(timeout => 5, local_address => '127.0.0.1');
	my $up = _poll(10, 0.1, sub { ($probe->get("$url/healthz")->{status} // 0) == 200 });
	Test::More::BAIL_OUT("infra_httpd did not start:\n" . slurp_file($log)) unless defined $up;
	return (pid => $pid, port => $port, url => $url, log => $log);
}

1;
