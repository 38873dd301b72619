# 007_backup_jobs.pl: backups, restores, verification and job control end to end, on a
# real server whose launcher runs the jobs (infra.database = appdb, which holds the user
# tables the backups dump).
#
#  (1) create_backup('daily') queues a backup row and its job in the caller's
#      transaction; after COMMIT the launcher runs it: path, bytes, sha256 (checked with
#      Digest::SHA), manifest (row counts, server version, system identifier), modes
#      0700/0600, no ".partial" left;
#  (2) the manifest's row counts come from the dump's snapshot: with rows being inserted
#      all through the backup, a restored copy has exactly the manifest's count;
#  (3) wait => true returns after success; a bad kind is refused and stores nothing;
#  (4) three backups committed together all succeed and never run at the same time;
#  (5) restore_backup(wait => true): same data; an existing target is refused, replace
#      is refused while someone is connected (naming the pid), then replaces the data;
#      template1 and the infra database are refused; restoring one backup 8 times in a
#      row always works (the dump holds infra_ext's configuration tables, whose foreign
#      key must survive pg_restore's parallel workers);
#  (6) an asynchronous restore is run by the launcher;
#  (7) restore_backup_from_path takes the dump file of a catalogued backup and refuses
#      "..", paths outside infra.backup_dir, symlinks leading out and other files,
#      creating no job;
#  (8) verify_backup: a good backup verifies (row counts), a flipped byte is caught at
#      the checksum stage; no scratch database is left either way;
#  (9) cancel_job stops a running backup (its pg_dump waiting for a lock, and its pg_dump
#      streaming a 1M-row table): job and backup 'cancelled', no partial files, no
#      pg_dump left, the next backup succeeds; a finished job cannot be cancelled;
# (10) infra_viewer / infra_operator / infra_admin see and may do what they should, and
#      the audit log names the acting role;
# (11) backup_stats() agrees with the catalog.
#
# Each part runs as a section: one that dies (say, a restore it builds on failed) is
# reported as a failure and the following sections still run.
use strict;
use warnings;

use Digest::SHA;
use File::Basename qw(basename);
use JSON::PP;
use Time::HiRes qw(time usleep);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

my $db = 'appdb';
my $node = new_infra_node('backups', database => $db, start => 0);
my $backup_dir = $node->basedir . '/backups';
$node->append_conf('postgresql.conf', "infra.backup_dir = '$backup_dir'\n");
$node->start;
$node->safe_psql('postgres', "CREATE DATABASE $db");
$node->safe_psql($db, 'CREATE EXTENSION infra_ext');
my $port = $node->port;

# ---- helpers ------------------------------------------------------------------------------

sub q_db
{
	my ($sql, $dbname) = @_;
	return $node->safe_psql($dbname // $db, $sql);
}

# Runs $sql as $user (undef: the bootstrap superuser) with verbose errors (so that they
# show the SQLSTATE); returns ($rc, $out, $err).
sub psql_as
{
	my ($user, $sql, $dbname) = @_;
	my @extra = defined $user ? ('-U', $user) : ();
	my ($rc, $out, $err) = $node->psql($dbname // $db, "\\set VERBOSITY verbose\n$sql",
		extra_params => \@extra);
	return ($rc, $out, $err);
}

# Waits up to $seconds for job $job to reach a final state; returns that state (or
# 'timeout (<state>)').
sub wait_job_final
{
	my ($job, $seconds) = @_;
	my $deadline = time() + $seconds;
	my $state = '';
	while (time() < $deadline)
	{
		$state = q_db("SELECT state FROM infra.jobs WHERE id = $job");
		return $state if $state =~ /^(?:succeeded|failed|cancelled)$/;
		usleep(100_000);
	}
	return "timeout ($state)";
}

sub job_error
{
	my ($job) = @_;
	return q_db("SELECT coalesce(error, '') FROM infra.jobs WHERE id = $job");
}

# "table=count,..." of the public tables of $dbname, by counting.
sub real_counts
{
	my ($dbname) = @_;
	my @tables = split /\n/, q_db(
		"SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", $dbname);
	return join(',', map {
		"public.$_=" . q_db("SELECT count(*) FROM public.$_", $dbname)
	} @tables);
}

# The same, from backup $id's catalogued manifest.
sub manifest_counts
{
	my ($id) = @_;
	return q_db(
		"SELECT string_agg((t->>'table') || '=' || (t->>'rows'), ',' ORDER BY t->>'table') "
		  . "FROM infra.backups b, jsonb_array_elements(b.manifest->'tables') t "
		  . "WHERE b.id = $id AND t->>'table' LIKE 'public.%'");
}

sub manifest_count
{
	my ($id, $table) = @_;
	return q_db(
		"SELECT t->>'rows' FROM infra.backups b, jsonb_array_elements(b.manifest->'tables') t "
		  . "WHERE b.id = $id AND t->>'table' = '$table'");
}

sub mode_of
{
	my ($path) = @_;
	my @st = lstat($path);
	return @st ? sprintf('%04o', $st[2] & 07777) : 'missing';
}

sub backup_dir_entries
{
	opendir(my $dh, $backup_dir) or return ();
	my @names = sort grep { $_ ne '.' && $_ ne '..' } readdir($dh);
	closedir($dh);
	return @names;
}

# Processes running pg_dump --snapshot against this node's port.
sub pg_dump_pids
{
	my @pids;
	opendir(my $dh, '/proc') or die "cannot read /proc: $!";
	for my $pid (grep { /^\d+$/ } readdir($dh))
	{
		open(my $fh, '<', "/proc/$pid/cmdline") or next;
		local $/;
		my $cmd = <$fh> // '';
		close($fh);
		my @argv = split /\0/, $cmd;
		next unless @argv && basename($argv[0]) eq 'pg_dump';
		next unless grep { $_ eq "--port=$port" } @argv;
		next unless grep { /^--snapshot=/ } @argv;
		push @pids, $pid;
	}
	closedir($dh);
	return @pids;
}

sub databases_like
{
	my ($pattern) = @_;
	return q_db(
		"SELECT coalesce(string_agg(datname, ',' ORDER BY datname), '') FROM pg_database "
		  . "WHERE datname LIKE '$pattern'");
}

sub file_sha256
{
	my ($path) = @_;
	return Digest::SHA->new(256)->addfile($path, 'b')->hexdigest;
}

# Runs $code (one section of this test); a section that dies (for example because a
# restore it depends on failed) is reported as a failure and the next section runs.
sub section
{
	my ($name, $code) = @_;
	my $ran = eval { $code->(); 1 };
	ok($ran, "$name: the section ran to its end") or diag("it died: $@");
	return;
}

# Runs $sql, which must succeed: a check named $name; returns its output, or dies (ending
# the section) when it failed.
sub sql_ok
{
	my ($sql, $name) = @_;
	my ($rc, $out, $err) = psql_as(undef, $sql);
	is($rc, 0, $name) or diag($err);
	die "$name: failed\n" if $rc != 0;
	return $out;
}

# ---- set-up -----------------------------------------------------------------------------

ok( defined wait_for_value($node, 'postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'infra launcher' "
			  . "AND datname = '$db'", '1', 30),
	'the launcher works in appdb');

# The built-in schedules fire at 01:00-05:00 UTC; move them 12 hours away from now so
# that none fires (adding backups or a cleanup) while this test runs.
{
	my $hour = (q_db("SELECT extract(hour FROM now() AT TIME ZONE 'UTC')::int") + 12) % 24;
	for my $s (qw(daily_backup weekly_backup monthly_backup cleanup weekly_verify))
	{
		q_db("SELECT infra.set_schedule('$s', '0 $hour * * *')");
	}
}

# Three tables with known row counts (one of 20k rows), and one that a session fills
# while a backup runs.
q_db(q{
	CREATE TABLE t_small (id int PRIMARY KEY, val text NOT NULL);
	INSERT INTO t_small SELECT g, 'small ' || g FROM generate_series(1, 7) g;
	CREATE TABLE t_mid (id int PRIMARY KEY, val text NOT NULL);
	INSERT INTO t_mid SELECT g, md5(g::text) FROM generate_series(1, 1234) g;
	CREATE TABLE t_big (id int PRIMARY KEY, val text NOT NULL, n numeric);
	INSERT INTO t_big SELECT g, repeat(md5(g::text), 3), g * 1.5 FROM generate_series(1, 20000) g;
	CREATE TABLE t_ins (id bigserial PRIMARY KEY, v text);
	CREATE TABLE stop_flag (x int);
});
my $source_counts = 'public.stop_flag=0,public.t_big=20000,public.t_ins=0,public.t_mid=1234,public.t_small=7';
is(real_counts($db), $source_counts, 'the source tables have the expected row counts');

# ---- (1) an asynchronous backup ------------------------------------------------------------------
my ($daily1, $daily1_job, $daily1_path);
section('(1) asynchronous backup', sub {
	my $s = $node->background_psql($db);
	$s->query_safe('BEGIN');
	$daily1 = $s->query_safe("SELECT infra.create_backup('daily')");
	like($daily1, qr/^\d+$/, '(1) create_backup returns a backup id');
	is( $s->query_safe(
			"SELECT b.kind, b.status, b.database, b.format, j.kind, j.state, j.backup_id = b.id, "
			  . "b.path IS NULL FROM infra.backups b JOIN infra.jobs j ON j.id = b.job_id "
			  . "WHERE b.id = $daily1"),
		"daily|queued|$db|custom|backup|queued|t|t",
		'(1) in the same transaction: the backup row is queued, with a linked queued backup job');
	is(q_db("SELECT count(*) FROM infra.backups WHERE id = $daily1"),
		'0', '(1) other sessions do not see it before COMMIT');
	usleep(1_500_000);
	is($s->query_safe("SELECT status FROM infra.backups WHERE id = $daily1"),
		'queued', '(1) nothing starts before COMMIT');
	$s->query_safe('COMMIT');
	$s->quit;
	$daily1_job = q_db("SELECT job_id FROM infra.backups WHERE id = $daily1");
	my $t0 = time();
	my $state = wait_job_final($daily1_job, 30);
	is($state, 'succeeded', '(1) the launcher runs the job to success within 30 s')
	  or diag(job_error($daily1_job));
	note(sprintf('daily backup finished %.1f s after COMMIT', time() - $t0));

	my ($status, $path, $bytes, $sha, $finished) = split /\|/, q_db(
		"SELECT status, path, bytes, sha256, finished_at IS NOT NULL FROM infra.backups "
		  . "WHERE id = $daily1");
	$daily1_path = $path;
	is($status, 'succeeded', '(1) the backup row is succeeded');
	is($finished, 't', '(1) finished_at is set');
	like($path, qr{^\Q$backup_dir\E/daily-\Q${\sprintf('%06d', $daily1)}\E-appdb-\d{8}T\d{6}Z$},
		'(1) path is <backup_dir>/daily-<id 6 digits>-appdb-<UTC stamp>');
	cmp_ok($bytes, '>', 0, '(1) bytes > 0');
	like($sha, qr/^[0-9a-f]{64}$/, '(1) sha256 is 64 lowercase hex digits');

	ok(-d $path, '(1) the backup directory exists');
	is(mode_of($path), '0700', '(1) the backup directory has mode 0700');
	is(mode_of($backup_dir), '0700', '(1) infra.backup_dir has mode 0700');
	opendir(my $dh, $path) or die "cannot open $path: $!";
	my @files = sort grep { $_ ne '.' && $_ ne '..' } readdir($dh);
	closedir($dh);
	is(join(',', @files), 'appdb.dump,globals.sql,manifest.json',
		'(1) it holds appdb.dump, globals.sql and manifest.json');
	is(join(',', map { "$_=" . mode_of("$path/$_") } @files),
		'appdb.dump=0600,globals.sql=0600,manifest.json=0600', '(1) every file has mode 0600');
	is(file_sha256("$path/appdb.dump"), $sha, '(1) the dump file\'s SHA-256 equals backups.sha256');
	cmp_ok($bytes, '>=', -s "$path/appdb.dump", '(1) bytes covers at least the dump file');
	is(join(',', grep { /\.partial$/ || /^\./ } backup_dir_entries()),
		'', '(1) no ".partial" (or other hidden) entry is left in infra.backup_dir');

	my $disk = decode_json(slurp_file("$path/manifest.json"));
	my %disk_files = map { $_->{name} => $_ } @{ $disk->{files} };
	is(join(',', sort keys %disk_files), 'appdb.dump,globals.sql',
		'(1) manifest.json lists the dump and globals.sql');
	is($disk_files{'appdb.dump'}{sha256}, $sha, '(1) manifest.json has the dump\'s SHA-256');
	is($disk_files{'appdb.dump'}{bytes}, -s "$path/appdb.dump", '(1) ... and its size');
	is($disk_files{'globals.sql'}{sha256}, file_sha256("$path/globals.sql"),
		'(1) manifest.json has globals.sql\'s SHA-256');
	is(manifest_counts($daily1), $source_counts,
		'(1) the manifest\'s row counts equal the real counts');
	is(join(',', map { "$_->{table}=$_->{rows}" } grep { $_->{table} =~ /^public\./ }
			  sort { $a->{table} cmp $b->{table} } @{ $disk->{tables} }),
		$source_counts, '(1) manifest.json on disk has the same row counts');
	is( q_db(
			"SELECT (manifest->>'server_version') = current_setting('server_version'), "
			  . "(manifest->>'system_identifier') = (SELECT system_identifier::text FROM pg_control_system()), "
			  . "manifest->>'database', manifest->>'format' FROM infra.backups WHERE id = $daily1"),
		"t|t|$db|custom",
		'(1) manifest server_version and system_identifier are the server\'s');
	is($disk->{system_identifier} . '',
		q_db('SELECT system_identifier FROM pg_control_system()'),
		'(1) manifest.json\'s system_identifier is the server\'s');
	is( q_db(
			"SELECT string_agg(action, ',' ORDER BY id) FROM infra.audit_log "
			  . "WHERE target IN ('backup $daily1', 'backup job $daily1_job')"),
		'backup_queued,job_start,job_succeeded',
		'(1) the audit log has backup_queued, job_start, job_succeeded');
});

# ---- (3) wait => true, and a bad kind ------------------------------------------------------
my $weekly;
section('(3) wait => true and a bad kind', sub {
	my $out = q_db(
		"SELECT infra.create_backup('weekly', wait => true) AS id \\gset\n"
		  . "SELECT :id, b.status, j.state, b.path IS NOT NULL FROM infra.backups b "
		  . "JOIN infra.jobs j ON j.id = b.job_id WHERE b.id = :id");
	like($out, qr/^\d+\|succeeded\|succeeded\|t$/,
		'(3) create_backup(wait => true) returns once the backup has succeeded');
	($weekly) = split /\|/, $out;

	my $before = q_db('SELECT (SELECT count(*) FROM infra.backups) || \'/\' || (SELECT count(*) FROM infra.jobs)');
	my ($rc, undef, $err) = psql_as(undef, "SELECT infra.create_backup('hourly')");
	isnt($rc, 0, "(3) create_backup('hourly') fails");
	like($err, qr/ERROR:  IX001: invalid backup kind 'hourly'/, '(3) ... saying the kind is invalid');
	like($err, qr/HINT:  Use one of: daily, weekly, monthly, manual\./, '(3) ... naming the valid kinds');
	is(q_db('SELECT (SELECT count(*) FROM infra.backups) || \'/\' || (SELECT count(*) FROM infra.jobs)'),
		$before, '(3) ... and creates no backup or job row');
});

# ---- (8a) verifying a good backup ------------------------------------------------------------
section('(8) verifying a good backup', sub {
	my $v = q_db(
		"SELECT r->>'ok', r->>'stage', r->>'mismatch_count', r->>'restored', r->>'job_id' "
		  . "FROM infra.verify_backup($daily1) r");
	my ($ok, $stage, $mismatches, $restored, $job) = split /\|/, $v;
	is("$ok|$stage|$mismatches|$restored", 'true|row_counts|0|true',
		'(8) verify_backup of a good backup: ok, stage row_counts, 0 mismatches, restored');
	is(q_db("SELECT kind || '/' || state FROM infra.jobs WHERE id = $job"),
		'verify/succeeded', '(8) the verification ran as a succeeded verify job');
	is( q_db(
			"SELECT verified_at IS NOT NULL, verify_result->>'ok' FROM infra.backups WHERE id = $daily1"),
		't|true', '(8) backups.verified_at and verify_result are recorded');
	is(databases_like('infra\_verify\_%'), '', '(8) no scratch database is left after it');
});

# ---- (5) restore ---------------------------------------------------------------------------
section('(5) restore', sub {
	my $out = sql_ok("SELECT infra.restore_backup($daily1, 'restored1', wait => true)",
		'(5) restore_backup(wait => true) succeeds');
	like($out, qr/^\d+$/, '(5) ... and returns a job id');
	is(q_db("SELECT kind || '/' || state || '/' || backup_id FROM infra.jobs WHERE id = $out"),
		"restore/succeeded/$daily1", '(5) ... of a succeeded restore job');
	is(real_counts('restored1'), $source_counts, '(5) restored1 has the backup\'s row counts');
	is(q_db("SELECT val FROM t_small WHERE id = 3", 'restored1'),
		'small 3', '(5) ... and its data');

	my ($rc, undef, $err) =
	  psql_as(undef, "SELECT infra.restore_backup($daily1, 'restored1', wait => true)");
	isnt($rc, 0, '(5) restoring into an existing database without replace fails');
	like($err, qr/ERROR:  IX004: database restored1 already exists/, '(5) ... "already exists"');

	# Someone works in restored1: replace is refused, naming that session.
	q_db("UPDATE t_small SET val = 'changed' WHERE id = 3; DELETE FROM t_big WHERE id <= 100",
		'restored1');
	my $s = $node->background_psql('restored1');
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	my $jobs_before = q_db('SELECT count(*) FROM infra.jobs');
	($rc, undef, $err) = psql_as(undef,
		"SELECT infra.restore_backup($daily1, 'restored1', wait => true, replace => true)");
	isnt($rc, 0, '(5) replace while a session is connected to restored1 fails');
	like($err, qr/ERROR:  IX004: database restored1 has other connections: pid $pid \(/,
		'(5) ... with a message naming that session\'s pid');
	is(q_db('SELECT count(*) FROM infra.jobs'), $jobs_before, '(5) ... and queues no job');
	is(q_db('SELECT val FROM t_small WHERE id = 3', 'restored1'),
		'changed', '(5) ... and restored1 is untouched');
	$s->quit;
	ok( defined wait_for_value($node, $db,
				"SELECT count(*) FROM pg_stat_activity WHERE datname = 'restored1'", '0', 10),
		'(5) the session on restored1 is gone');

	$out = sql_ok("SELECT infra.restore_backup($daily1, 'restored1', wait => true, replace => true)",
		'(5) restore_backup(replace => true) succeeds once nobody is connected');
	is(q_db("SELECT state FROM infra.jobs WHERE id = $out"),
		'succeeded', '(5) ... its job is succeeded');
	is(q_db('SELECT val FROM t_small WHERE id = 3', 'restored1'),
		'small 3', '(5) the change made in restored1 is gone (the backup\'s data is back)');
	is(real_counts('restored1'), $source_counts, '(5) restored1 has the backup\'s row counts again');
	is(databases_like('infra\_re%'), '', '(5) no work or set-aside database is left');

	for my $target ('template1', 'postgres', $db)
	{
		($rc, undef, $err) = psql_as(undef, "SELECT infra.restore_backup($daily1, '$target', wait => true)");
		isnt($rc, 0, "(5) restoring into $target fails");
		like($err, qr/ERROR:  IX001: refusing to restore into $target/, "(5) ... refusing $target");
	}
	is(q_db('SELECT count(*) FROM infra.jobs'), $jobs_before + 1,
		'(5) the refused restores queued no job');
});

# ---- (6) an asynchronous restore -----------------------------------------------------------
section('(6) asynchronous restore', sub {
	my $job = q_db("SELECT infra.restore_backup($weekly, 'restored2')");
	my ($rc, undef, $err) = psql_as(undef, "SELECT infra.restore_backup($weekly, 'restored2')");
	like($err, qr/ERROR:  IX004: a restore into restored2 is already queued or running/,
		'(6) a second restore into the same target is refused while the first is queued or running');
	is(q_db("SELECT count(*) FROM infra.jobs WHERE kind = 'restore' AND params->>'target' = 'restored2'"),
		'1', '(6) ... and queues nothing');
	like(q_db("SELECT state FROM infra.jobs WHERE id = $job"), qr/^(?:queued|running|succeeded)$/,
		'(6) restore_backup without wait returns a job that is queued (or already running)');
	is(wait_job_final($job, 30), 'succeeded', '(6) the launcher runs the restore to success')
	  or diag(job_error($job));
	is(real_counts('restored2'), $source_counts, '(6) restored2 has the backup\'s row counts');
	is(q_db("SELECT requested_by FROM infra.jobs WHERE id = $job"),
		'postgres', '(6) the job records who asked for it');
});

# ---- (5) restoring one backup again and again ----------------------------------------------------
# The dump holds the data of infra_ext's configuration tables (infra.jobs, infra.backups,
# ...), which CREATE EXTENSION creates with their constraints; every restore must load
# them whatever order pg_restore's parallel workers take.
section('(5) repeated restores', sub {
	my @failed;
	for my $i (1 .. 8)
	{
		my ($rc, undef, $err) =
		  psql_as(undef, "SELECT infra.restore_backup($weekly, 'restored_rep$i', wait => true)");
		push @failed, "restore $i: $err" if $rc != 0;
	}
	is(scalar(@failed), 0, '(5) 8 restores of the same good backup all succeed')
	  or diag(join("\n", @failed));
	q_db("DROP DATABASE IF EXISTS restored_rep$_", 'postgres') for 1 .. 8;
});

# ---- (7) restore_backup_from_path ------------------------------------------------------------
section('(7) restore_backup_from_path', sub {
	my $dump = "$daily1_path/appdb.dump";
	my $job = sql_ok("SELECT infra.restore_backup_from_path('$dump', 'restored_path', wait => true)",
		'(7) restore_backup_from_path(<dump file>, wait => true) succeeds');
	is(q_db("SELECT state || '/' || backup_id FROM infra.jobs WHERE id = $job"),
		"succeeded/$daily1", '(7) the dump file of a catalogued backup restores (from its backup)');
	is(real_counts('restored_path'), $source_counts, '(7) restored_path has the backup\'s row counts');

	my $name = basename($daily1_path);
	symlink('/etc/passwd', "$backup_dir/outside.dump") or die "symlink: $!";
	my @refused = (
		[ "$backup_dir/$name/../$name/appdb.dump", qr/contains a "\.\." component/, 'a path with ".."' ],
		[ '/etc/passwd', qr/is outside the backup directory/, '/etc/passwd' ],
		[ "$backup_dir/outside.dump", qr/leads outside the backup directory .* through a symbolic link/,
			'a symlink in infra.backup_dir leading out' ],
		[ "$daily1_path/manifest.json", qr/is not the dump file of a succeeded backup in the catalog/,
			'the manifest.json of a backup' ],
		[ "$daily1_path/globals.sql", qr/is not the dump file of a succeeded backup in the catalog/,
			'the globals.sql of a backup' ]);
	for my $case (@refused)
	{
		my ($path, $re, $what) = @$case;
		my $jobs_before = q_db('SELECT count(*) FROM infra.jobs');
		my ($rc, undef, $err) = psql_as(undef,
			"SELECT infra.restore_backup_from_path('$path', 'restored_evil', wait => true)");
		isnt($rc, 0, "(7) $what is refused");
		like($err, qr/ERROR:  IX001: .*$re/, "(7) ... with SQLSTATE IX001 and the reason");
		is(q_db('SELECT count(*) FROM infra.jobs'), $jobs_before, "(7) ... creating no job row");
	}
	unlink("$backup_dir/outside.dump");
	is(databases_like('restored\_evil'), '', '(7) no database was created by the refused paths');
});

# ---- (2) the manifest's counts are the dump's snapshot -----------------------------------------
my $daily2;
section('(2) snapshot consistency', sub {
	my $ins = $node->background_psql($db);
	$ins->query_until(qr/inserting/, q{\echo inserting
DO $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    WHILE NOT EXISTS (SELECT 1 FROM stop_flag) AND clock_timestamp() < t0 + interval '60 s' LOOP
        INSERT INTO t_ins (v) SELECT 'row' FROM generate_series(1, 10);
        COMMIT;
        PERFORM pg_sleep(0.002);
    END LOOP;
END
$$;
});
	ok(defined wait_for_value($node, $db, 'SELECT count(*) > 100 FROM t_ins', 't', 10),
		'(2) a session is inserting into t_ins');
	my $before = q_db('SELECT count(*) FROM t_ins');
	$daily2 = q_db("SELECT infra.create_backup('daily')");
	my $job = q_db("SELECT job_id FROM infra.backups WHERE id = $daily2");
	is(wait_job_final($job, 30), 'succeeded', '(2) the backup taken during the inserts succeeds')
	  or diag(job_error($job));
	my $after = q_db('SELECT count(*) FROM t_ins');
	q_db('INSERT INTO stop_flag VALUES (1)');
	$ins->query_safe('SELECT 1');
	$ins->quit;
	q_db('DELETE FROM stop_flag');

	my $in_manifest = manifest_count($daily2, 'public.t_ins');
	note("t_ins: $before rows before the backup, $in_manifest in the manifest, $after after it");
	cmp_ok($in_manifest, '>', $before, '(2) the manifest counts rows inserted after the backup was asked for');
	cmp_ok($in_manifest, '<', $after, '(2) rows kept coming after the backup\'s snapshot');
	sql_ok("SELECT infra.restore_backup($daily2, 'restored_snap', wait => true)",
		'(2) restoring the backup taken during the inserts succeeds');
	is(q_db('SELECT count(*) FROM t_ins', 'restored_snap'),
		$in_manifest, '(2) the restored copy has exactly the manifest\'s t_ins count');
	is(real_counts('restored_snap'), manifest_counts($daily2),
		'(2) ... and every table\'s count equals the manifest');
});

# ---- (4) three backups at once ---------------------------------------------------------------
my @manual;
section('(4) concurrent backups', sub {
	my @sessions = map { $node->background_psql($db) } 1 .. 3;
	for my $s (@sessions)
	{
		$s->query_safe('BEGIN');
		push @manual, $s->query_safe("SELECT infra.create_backup('manual')");
	}
	$_->query_safe('COMMIT') for @sessions;
	$_->quit for @sessions;
	my $list = join(',', @manual);
	my @jobs = split /\n/, q_db("SELECT job_id FROM infra.backups WHERE id IN ($list) ORDER BY id");
	my @states = map { wait_job_final($_, 60) } @jobs;
	is(join(',', @states), 'succeeded,succeeded,succeeded', '(4) all 3 concurrent backups succeed');
	is(q_db("SELECT count(*) FROM infra.backups WHERE id IN ($list) AND status = 'succeeded' AND path IS NOT NULL"),
		'3', '(4) all 3 backup rows are succeeded with a path');
	my $jl = join(',', @jobs);
	is( q_db(
			"SELECT count(*) FROM infra.jobs a JOIN infra.jobs b ON a.id < b.id "
			  . "WHERE a.id IN ($jl) AND b.id IN ($jl) "
			  . "AND a.started_at < b.finished_at AND b.started_at < a.finished_at"),
		'0', '(4) their [started_at, finished_at] intervals never overlap')
	  or diag(q_db("SELECT id, started_at, finished_at FROM infra.jobs WHERE id IN ($jl) ORDER BY id"));
	is(q_db("SELECT count(DISTINCT path) FROM infra.backups WHERE id IN ($list)"),
		'3', '(4) each has its own directory');
});

# ---- (9) cancelling a running backup -----------------------------------------------------------
section('(9) cancel_job', sub {
	# A session holds an ACCESS EXCLUSIVE lock on t_small: pg_dump waits for it (up to
	# infra.backup_lock_wait_timeout, 60 s), so the job stays running.
	my $locker = $node->background_psql($db);
	$locker->query_safe('BEGIN');
	$locker->query_safe('LOCK TABLE t_small IN ACCESS EXCLUSIVE MODE');
	my $id = q_db("SELECT infra.create_backup('manual')");
	my $job = q_db("SELECT job_id FROM infra.backups WHERE id = $id");
	ok( defined wait_for_value($node, $db,
				"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'infra_ext pg_dump' "
				  . "AND wait_event_type = 'Lock'", '1', 30),
		'(9) the backup\'s pg_dump is running (waiting for the lock)');
	is(q_db("SELECT j.state || '/' || b.status FROM infra.jobs j JOIN infra.backups b ON b.job_id = j.id WHERE j.id = $job"),
		'running/running', '(9) job and backup are running');
	my @dumps = pg_dump_pids();
	is(scalar(@dumps), 1, '(9) one pg_dump --snapshot process runs for it');
	my $partial = sprintf('.manual-%06d-appdb-', $id);
	is(scalar(grep { index($_, $partial) == 0 && /\.partial$/ } backup_dir_entries()),
		1, '(9) its .partial directory exists');

	is(q_db("SELECT infra.cancel_job($job)"), 'cancelling', '(9) cancel_job of a running job says cancelling');
	is(wait_job_final($job, 20), 'cancelled', '(9) the job ends cancelled')
	  or diag(job_error($job));
	is(q_db("SELECT status || '/' || (path IS NULL) FROM infra.backups WHERE id = $id"),
		'cancelled/true', '(9) the backup is cancelled, with no path');
	is(join(',', grep { /\.partial$/ } backup_dir_entries()), '', '(9) no partial directory is left');
	is(join(',', grep { /^manual-\Q${\sprintf('%06d', $id)}\E-/ } backup_dir_entries()),
		'', '(9) and no backup directory for it');
	is(join(',', pg_dump_pids()), '', '(9) no pg_dump process is left');
	is( q_db(
			"SELECT string_agg(action, ',' ORDER BY id) FROM infra.audit_log "
			  . "WHERE target = 'backup job $job' AND action LIKE 'job\\_cancel%'"),
		'job_cancel,job_cancelled', '(9) the audit log has job_cancel and job_cancelled');
	$locker->query_safe('COMMIT');
	$locker->quit;
	ok( defined wait_for_value($node, $db,
				"SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'infra\\_ext %'",
				'0', 10),
		'(9) once the lock is gone, no connection of the job\'s children is left');

	# Cancelling while pg_dump streams data: a table of 1M rows takes pg_dump a few
	# seconds; cancel once more than 1 MB of the dump has been written.
	q_db(q{CREATE UNLOGGED TABLE t_huge AS
		SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS v FROM generate_series(1, 1000000) g});
	my $big = q_db("SELECT infra.create_backup('manual')");
	my $big_job = q_db("SELECT job_id FROM infra.backups WHERE id = $big");
	my $big_prefix = sprintf('.manual-%06d-appdb-', $big);
	my $written = 0;
	my $deadline = time() + 30;
	while (time() < $deadline)
	{
		my ($partial) = grep { index($_, $big_prefix) == 0 } backup_dir_entries();
		$written = defined $partial ? (-s "$backup_dir/$partial/appdb.dump") // 0 : 0;
		last if $written > 1_000_000;
		usleep(20_000);
	}
	cmp_ok($written, '>', 1_000_000, '(9) a backup of a big table is streaming its dump (> 1 MB written)');
	is(q_db("SELECT state FROM infra.jobs WHERE id = $big_job"), 'running', '(9) its job is running');
	is(scalar(pg_dump_pids()), 1, '(9) its pg_dump runs');
	my $t0 = time();
	is(q_db("SELECT infra.cancel_job($big_job)"), 'cancelling', '(9) cancel_job of it says cancelling');
	is(wait_job_final($big_job, 20), 'cancelled', '(9) the streaming backup ends cancelled')
	  or diag(job_error($big_job));
	note(sprintf('streaming backup cancelled %.2f s after cancel_job', time() - $t0));
	is(q_db("SELECT status || '/' || (path IS NULL) || '/' || (sha256 IS NULL) FROM infra.backups WHERE id = $big"),
		'cancelled/true/true', '(9) its backup is cancelled, with no path or checksum');
	is(join(',', grep { /\.partial$/ } backup_dir_entries()), '', '(9) no partial directory is left');
	is(join(',', grep { /^manual-\Q${\sprintf('%06d', $big)}\E-/ } backup_dir_entries()),
		'', '(9) and no backup directory for it');
	is(join(',', pg_dump_pids()), '', '(9) no pg_dump process is left');
	ok( defined wait_for_value($node, $db,
				"SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'infra\\_ext %'",
				'0', 10),
		'(9) no connection of the job\'s children (pg_dump, psql) is left');
	q_db('DROP TABLE t_huge');

	my $next = q_db("SELECT infra.create_backup('manual', wait => true)");
	is(q_db("SELECT status FROM infra.backups WHERE id = $next"),
		'succeeded', '(9) the next backup succeeds');
	push @manual, $next;

	my ($rc, undef, $err) = psql_as(undef, "SELECT infra.cancel_job($job)");
	like($err, qr/ERROR:  IX004: job $job cannot be cancelled: it already cancelled/,
		'(9) cancel_job on the cancelled job: "cannot be cancelled"');
	($rc, undef, $err) = psql_as(undef, "SELECT infra.cancel_job($daily1_job)");
	isnt($rc, 0, '(9) cancel_job on a succeeded job fails');
	like($err, qr/ERROR:  IX004: job $daily1_job cannot be cancelled: it already succeeded/,
		'(9) ... "cannot be cancelled"');
});

# ---- (10) roles ------------------------------------------------------------------------------
section('(10) roles', sub {
	q_db(q{
		CREATE ROLE tap_viewer LOGIN IN ROLE infra_viewer;
		CREATE ROLE tap_operator LOGIN IN ROLE infra_operator;
		CREATE ROLE tap_admin LOGIN IN ROLE infra_admin;
	});
	my ($rc, $out, $err);

	($rc, $out, $err) = psql_as('tap_viewer', 'SELECT count(*) FROM infra.backups');
	is($out, q_db('SELECT count(*) FROM infra.backups'), '(10) the viewer can read infra.backups');
	($rc, $out, $err) = psql_as('tap_viewer', "SELECT infra.backup_stats()->'by_kind' IS NOT NULL");
	is($out, 't', '(10) the viewer can call backup_stats()');
	($rc, $out, $err) = psql_as('tap_viewer', "SELECT infra.create_backup('manual')");
	like($err, qr/permission denied for function create_backup/, '(10) the viewer cannot create_backup');
	($rc, $out, $err) = psql_as('tap_viewer', "SELECT infra.verify_backup($daily1)");
	like($err, qr/permission denied for function verify_backup/, '(10) the viewer cannot verify_backup');

	my $before = q_db('SELECT count(*) FROM infra.backups');
	($rc, $out, $err) = psql_as('tap_operator', "SELECT infra.create_backup('manual')");
	is($rc, 0, '(10) the operator can create_backup') or diag($err);
	my $op_backup = $out;
	is(q_db('SELECT count(*) FROM infra.backups'), $before + 1, '(10) ... which queued one backup');
	my $op_job = q_db("SELECT job_id FROM infra.backups WHERE id = $op_backup");
	is(wait_job_final($op_job, 30), 'succeeded', '(10) the operator\'s backup succeeds')
	  or diag(job_error($op_job));
	push @manual, $op_backup;
	is( q_db(
			"SELECT session_role || '/' || acting_role FROM infra.audit_log "
			  . "WHERE action = 'backup_queued' AND target = 'backup $op_backup'"),
		'tap_operator/tap_operator', '(10) the audit log records the operator as acting role');
	is(q_db("SELECT requested_by FROM infra.jobs WHERE id = $op_job"),
		'tap_operator', '(10) the job records the operator as requested_by');

	($rc, $out, $err) = psql_as('tap_operator', "SELECT infra.verify_backup($weekly)->>'ok'");
	is($out, 'true', '(10) the operator can verify_backup') or diag($err);
	for my $call ("infra.restore_backup($daily1, 'restored_op', wait => true)",
		"infra.restore_backup_from_path('$daily1_path/appdb.dump', 'restored_op')",
		"infra.delete_backup($manual[0])", "infra.set_schedule('cleanup', enabled => true)",
		'infra.cleanup_backups(true)')
	{
		my ($fn) = $call =~ /^infra\.(\w+)/;
		($rc, $out, $err) = psql_as('tap_operator', "SELECT $call");
		like($err, qr/permission denied for function $fn/, "(10) the operator cannot call $fn");
	}

	# SET ROLE: the acting role is the one set, the session role the login.
	($rc, $out, $err) =
	  psql_as('tap_admin', "SET ROLE infra_operator;\nSELECT infra.create_backup('manual')");
	is($rc, 0, '(10) the admin, acting as infra_operator, can create_backup') or diag($err);
	my $set_role_backup = $out;
	is( q_db(
			"SELECT session_role || '/' || acting_role FROM infra.audit_log "
			  . "WHERE action = 'backup_queued' AND target = 'backup $set_role_backup'"),
		'tap_admin/infra_operator', '(10) after SET ROLE the audit log names the role set');
	my $srj = q_db("SELECT job_id FROM infra.backups WHERE id = $set_role_backup");
	is(wait_job_final($srj, 30), 'succeeded', '(10) that backup succeeds') or diag(job_error($srj));
	push @manual, $set_role_backup;

	($rc, $out, $err) = psql_as('tap_admin',
		"SELECT infra.restore_backup($daily1, 'restored_adm', wait => true) AS job \\gset\n"
		  . "SELECT state FROM infra.jobs WHERE id = :job");
	is($out, 'succeeded', '(10) the admin can restore_backup') or diag($err);
	is(real_counts('restored_adm'), $source_counts, '(10) ... and the data is there');
	($rc, $out, $err) =
	  psql_as('tap_admin', "SELECT cron FROM infra.set_schedule('cleanup', enabled => true)");
	is($rc, 0, '(10) the admin can set_schedule') or diag($err);
	my $victim = $manual[0];
	my $victim_path = q_db("SELECT path FROM infra.backups WHERE id = $victim");
	($rc, $out, $err) = psql_as('tap_admin', "SELECT infra.delete_backup($victim)");
	is($out, 'removed', '(10) the admin can delete_backup') or diag($err);
	ok(!-e $victim_path, '(10) ... which removed its directory');
	is(q_db("SELECT count(*) FROM infra.backups WHERE id = $victim"), '0', '(10) ... and its row');
	is( q_db(
			"SELECT acting_role FROM infra.audit_log WHERE action = 'backup_delete' "
			  . "AND target = 'backup $victim'"),
		'tap_admin', '(10) the deletion is audited with the admin as acting role');
	shift @manual;
});

# ---- (8b) a corrupted dump -----------------------------------------------------------------
section('(8) a corrupted dump', sub {
	my $dump = "$daily1_path/appdb.dump";
	my $size = -s $dump;
	open(my $fh, '+<:raw', $dump) or die "cannot open $dump: $!";
	seek($fh, int($size / 2), 0) or die;
	read($fh, my $byte, 1) == 1 or die;
	seek($fh, int($size / 2), 0) or die;
	print $fh chr(ord($byte) ^ 0xFF);
	close($fh) or die;
	isnt(file_sha256($dump), q_db("SELECT sha256 FROM infra.backups WHERE id = $daily1"),
		'(8) one byte in the middle of the dump was flipped');

	my $v = q_db(
		"SELECT r->>'ok', r->>'stage', r->>'restored', jsonb_array_length(r->'corrupt_files'), "
		  . "r->'corrupt_files'->0->>'file', r->'corrupt_files'->0->>'problem' "
		  . "FROM infra.verify_backup($daily1) r");
	my ($ok, $stage, $restored, $n, $file, $problem) = split /\|/, $v;
	is("$ok|$stage|$restored", 'false|checksums|false',
		'(8) verify of the corrupted backup: ok false, stage checksums, not restored');
	is("$n|$file", '1|appdb.dump', '(8) corrupt_files names the dump (only)');
	like($problem, qr/SHA-256 mismatch/i, '(8) ... as a SHA-256 mismatch');
	is(q_db("SELECT verify_result->>'ok' FROM infra.backups WHERE id = $daily1"),
		'false', '(8) verify_result records the failure');
	is(databases_like('infra\_verify\_%'), '', '(8) no infra_verify_* database is left');
});

# ---- (11) backup_stats() -----------------------------------------------------------------------
section('(11) backup_stats()', sub {
	my $stats = "infra.backup_stats()";
	is( q_db(
			"SELECT string_agg(key || '=' || (value->>'count'), ',' ORDER BY key) FROM jsonb_each($stats->'by_kind')"),
		q_db(
			"SELECT string_agg(kind || '=' || n, ',' ORDER BY kind) FROM "
			  . "(SELECT kind, count(*) AS n FROM infra.backups GROUP BY kind) s"),
		'(11) by_kind counts match the catalog');
	is( q_db(
			"SELECT string_agg(k.key || '.' || s.key || '=' || s.value, ',' ORDER BY k.key, s.key) "
			  . "FROM jsonb_each($stats->'by_kind') k, jsonb_each_text(k.value->'by_status') s"),
		q_db(
			"SELECT string_agg(kind || '.' || status || '=' || n, ',' ORDER BY kind, status) FROM "
			  . "(SELECT kind, status, count(*) AS n FROM infra.backups GROUP BY kind, status) s"),
		'(11) by_kind by_status counts match the catalog');
	is(q_db("SELECT $stats->'by_kind'->'manual'->'by_status'->>'cancelled'"),
		'2', '(11) the 2 cancelled backups are counted');
	is(q_db("SELECT $stats->'newest'->'daily'->>'id'"), $daily2,
		'(11) newest.daily is the newer daily backup');
	is(q_db("SELECT $stats->'newest'->'weekly'->>'id'"), $weekly, '(11) newest.weekly is the weekly backup');
	is(q_db("SELECT ($stats->'backup_dir'->>'free_bytes')::bigint > 0, $stats->'backup_dir'->>'path'"),
		"t|$backup_dir", '(11) backup_dir: the path, with free_bytes > 0');
	is(q_db("SELECT jsonb_array_length($stats->'next_runs')"),
		q_db('SELECT count(*) FROM infra.schedules WHERE enabled'),
		'(11) next_runs has one entry per enabled schedule');
	is(q_db("SELECT jsonb_array_length($stats->'next_runs')"), '5', '(11) ... 5 of them');
	is(q_db("SELECT $stats->'jobs'->>'queued' || '/' || ($stats->'jobs'->>'running')"),
		'0/0', '(11) no job is queued or running at the end');
});

is(join(',', grep { /\.partial$/ } backup_dir_entries()), '', 'no partial directory is left at the end');
$node->stop;
done_testing();
