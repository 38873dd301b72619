# 001_launcher.pl: the "infra launcher" background worker's life cycle.
#
#  (a) without shared_preload_libraries, CREATE EXTENSION fails with a clear error and hint;
#  (b) preloaded, before CREATE EXTENSION: one "waiting" line, no errors, no restart loop;
#      CREATE EXTENSION wakes it ("infra_ext found");
#  (c) infra.database names a database that does not exist yet: one "waiting for database"
#      line, no FATAL spam; the launcher connects once the database exists;
#  (d) pg_terminate_backend(launcher) -> the postmaster starts a new one;
#  (e) SIGHUP (pg_reload_conf) -> the launcher keeps running and keeps working.
#
# (b) and (c) run on two servers started together, so that their quiet periods overlap.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

sub count_matches
{
	my ($text, $regex) = @_;
	my $n = () = $text =~ /$regex/g;
	return $n;
}

# Reports $ip with weight 5 (an automatic block) and waits up to $seconds for the keeper
# to persist the block; returns the seconds it took, or undef.
sub report_and_wait_persisted
{
	my ($node, $db, $ip, $seconds) = @_;
	$node->safe_psql($db, "SELECT infra.report_suspicious('$ip', 'tap', 5)");
	return wait_for_value($node, $db,
		"SELECT count(*) FROM infra.blocked_ips WHERE network = '$ip/32' AND source = 'auto'",
		'1', $seconds);
}

my $launcher_pid_query =
  "SELECT pid FROM pg_stat_activity WHERE backend_type = 'infra launcher'";
my $launcher_count_query =
  "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'infra launcher'";

# --- (a) not preloaded ------------------------------------------------------------------
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
my ($rc, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION infra_ext');
isnt($rc, 0, 'CREATE EXTENSION without shared_preload_libraries fails');
like(
	$err,
	qr/ERROR:\s+infra_ext must be loaded through shared_preload_libraries/,
	'... with the message naming shared_preload_libraries');
like(
	$err,
	qr/HINT:\s+Add infra_ext to shared_preload_libraries in postgresql\.conf/,
	'... and a hint saying what to do');
is($plain->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'infra_ext'"),
	'0', '... and the extension is not created');
$plain->stop;

# --- start (b) and (c) together ---------------------------------------------------------
my $node = new_infra_node('main', start => 0);
my $nodb = new_infra_node('nodb', database => 'appdb', start => 0);
$node->start;
$nodb->start;
my $started = time();

# The launcher shows up in pg_stat_activity.
ok(defined wait_for_value($node, 'postgres', $launcher_count_query, '1', 10),
	'(b) the launcher is running before CREATE EXTENSION');
my $first_pid = $node->safe_psql('postgres', $launcher_pid_query);
like($first_pid, qr/^\d+$/, '(b) exactly one launcher');

# Quiet period: ~12 s (the launcher polls every 5 s, restarts would come every 5 s).
sleep_until($started + 12);

# (b) checks.
{
	my $log = slurp_file($node->logfile);
	is(count_matches($log, qr/infra launcher: waiting for CREATE EXTENSION infra_ext in database "postgres"/),
		1, '(b) exactly one "waiting for CREATE EXTENSION" line after 12 s');
	is(count_matches($log, qr/\b(?:ERROR|FATAL|PANIC):/), 0,
		'(b) no ERROR/FATAL/PANIC lines while waiting')
	  or diag($log);
	unlike($log, qr/background worker "infra launcher".*exited/,
		'(b) the launcher never exited while waiting');
	is($node->safe_psql('postgres', $launcher_pid_query),
		$first_pid, '(b) the launcher pid is unchanged (no crash loop)');
}

# (c) checks, before the database exists.
{
	my $log = slurp_file($nodb->logfile);
	is(count_matches($log, qr/infra launcher: waiting for database "appdb" \(infra\.database\) to exist/),
		1, '(c) exactly one "waiting for database" line after 12 s');
	# The very first start tries to connect (and fails once) before it knows the database
	# is missing; after that it must wait quietly.
	cmp_ok(count_matches($log, qr/FATAL:/), '<=', 1, '(c) at most one FATAL line (no FATAL spam)')
	  or diag($log);
	cmp_ok(count_matches($log, qr/background worker "infra launcher".*exited/), '<=', 1,
		'(c) the launcher did not restart in a loop');
	is($nodb->safe_psql('postgres', "$launcher_count_query AND datname IS NULL"),
		'1', '(c) the waiting launcher runs, attached to no database');
}

# (b) CREATE EXTENSION wakes the launcher when its transaction commits
# (infra._extension_created()), so the launcher does not wait for its next 5 s poll. The
# test creates the extension in a transaction that commits a moment later, as a migration
# tool would, and the launcher must notice within 2 s of COMMIT.
{
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', 'BEGIN; CREATE EXTENSION infra_ext; SELECT pg_sleep(0.5); COMMIT;');
	my $took = wait_for_log_line($node,
		qr/infra launcher: infra_ext found in database "postgres"; starting its duties/, $offset, 10);
	ok(defined $took, '(b) "infra_ext found" logged within 10 s of CREATE EXTENSION');
	note(sprintf('infra_ext found %.2f s after COMMIT', $took // -1));
	ok(defined $took && $took < 2,
		'(b) the launcher notices the committed extension at once (< 2 s), not at its next 5 s poll');
	is($node->safe_psql('postgres', $launcher_pid_query),
		$first_pid, '(b) the same launcher found the extension');
}

# (c) the guard refuses to work in a database other than infra.database.
{
	$nodb->safe_psql('postgres', 'CREATE EXTENSION infra_ext');
	my ($rc, $out, $err) =
	  $nodb->psql('postgres', "SELECT reason FROM infra.check_request('192.0.2.1')");
	isnt($rc, 0, '(c) check_request outside infra.database fails');
	like($err, qr/infra_ext's guard lives in database "appdb" \(infra\.database\), not in "postgres"/,
		'(c) ... naming both databases');
	like($err, qr/HINT:\s+Connect to that database, or set infra\.database/, '(c) ... with a hint');
}

# (c) the database appears.
{
	my $offset = -s $nodb->logfile;
	$nodb->safe_psql('postgres', 'CREATE DATABASE appdb');
	$nodb->safe_psql('appdb', 'CREATE EXTENSION infra_ext');
	my $took = wait_for_value($nodb, 'postgres',
		"$launcher_count_query AND datname = 'appdb'", '1', 15);
	ok(defined $took, '(c) the launcher is connected to appdb within 15 s');
	note(sprintf('connected to appdb after %.2f s', $took // -1));
	ok(defined wait_for_log_line($nodb,
			qr/infra launcher: infra_ext found in database "appdb"/, $offset, 10),
		'(c) the launcher found infra_ext in appdb');
	my $log = slurp_file($nodb->logfile, $offset);
	is(count_matches($log, qr/FATAL:/), 0, '(c) no FATAL while connecting to the new database')
	  or diag($log);
	# And it works there: an automatic block is persisted by the keeper.
	ok(defined report_and_wait_persisted($nodb, 'appdb', '192.0.2.1', 10),
		'(c) the launcher in appdb persists automatic blocks');
}
$nodb->stop;

# (d) pg_terminate_backend -> restarted.
my $second_pid;
{
	my $offset = -s $node->logfile;
	is($node->safe_psql('postgres', "SELECT pg_terminate_backend($first_pid)"),
		't', '(d) pg_terminate_backend(launcher) succeeds');
	my $took = wait_for_value($node, 'postgres',
		"$launcher_count_query AND pid <> $first_pid", '1', 10);
	ok(defined $took, '(d) a new launcher appears within 10 s');
	note(sprintf('new launcher after %.2f s', $took // -1));
	$second_pid = $node->safe_psql('postgres', $launcher_pid_query);
	isnt($second_pid, $first_pid, '(d) with a new pid');
	ok(defined wait_for_log_line($node, qr/infra launcher: infra_ext found in database "postgres"/,
			$offset, 10),
		'(d) the new launcher resumes its duties');
	ok(defined report_and_wait_persisted($node, 'postgres', '192.0.2.2', 5),
		'(d) the new launcher persists automatic blocks');
}

# (e) SIGHUP.
{
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', 'ALTER SYSTEM SET infra.ddos_max_requests_per_minute = 7');
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(defined wait_for_value($node, 'postgres', 'SHOW infra.ddos_max_requests_per_minute', '7', 10),
		'(e) the new setting is in effect after pg_reload_conf()');
	ok(defined wait_for_log_line($node,
			qr/parameter "infra\.ddos_max_requests_per_minute" changed to "7"/, $offset, 10),
		'(e) the server logged the reload');
	usleep(1_500_000);    # let the launcher go round its loop after the signal
	is($node->safe_psql('postgres', $launcher_pid_query),
		$second_pid, '(e) the launcher keeps running after SIGHUP (same pid)');
	my $log = slurp_file($node->logfile, $offset);
	is(count_matches($log, qr/\b(?:ERROR|FATAL|PANIC):/), 0, '(e) no errors after the reload')
	  or diag($log);
	# The new limit applies: 7 allowed, the 8th refused.
	is($node->safe_psql('postgres',
			"SELECT string_agg(v.reason, ',' ORDER BY g) FROM generate_series(1, 8) g, "
			  . "LATERAL infra.check_request('192.0.2.3'::inet + 0 * g) v"),
		'ok,ok,ok,ok,ok,ok,ok,rate_limit_minute', '(e) the reloaded limit applies');
	ok(defined report_and_wait_persisted($node, 'postgres', '192.0.2.4', 5),
		'(e) the launcher still persists automatic blocks after SIGHUP');
}

$node->stop;
done_testing();
