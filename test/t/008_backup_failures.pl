# 008_backup_failures.pl: every way a backup job can fail is handled. For each failure the
# job and its catalog row end 'failed' (or, for a shutdown, 'cancelled') with the real
# cause in their error, the ".partial" directory is gone, the backup directory holds
# exactly the succeeded backups' directories, an earlier succeeded backup is untouched
# (its files' SHA-256 still match what was recorded and the catalog), and the next
# backup succeeds:
#  1. pg_dump cannot get its table lock within infra.backup_lock_wait_timeout;
#  2. infra.backup_dir is not writable (mode 0500), its parent is not writable, or its
#     parent does not exist;
#  3. the disk fills up mid-dump (an 8 MB tmpfs named by INFRA_TEST_SMALL_FS, which
#     scripts/test.sh mounts as root; without it this file fails, it never skips);
#  4. the job's worker is killed with SIGKILL mid-dump (crash restart): no orphan
#     pg_dump, the launcher marks the job failed;
#  5. the server is restarted (fast shutdown) while pg_dump waits;
#  6. the database to dump is gone: when infra.backup_databases names a dropped database
#     create_backup refuses and stores nothing; when it disappears after the backup was
#     queued, the job fails;
#  7. cleanup_backups lists failed backups ("failed backup") and removes their rows.
use strict;
use warnings;

use Digest::SHA;
use File::Find;
use Time::HiRes qw(time usleep);

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $backup_dir = "$tmp/backups";

my $node = new_infra_node('backup_failures',
	conf => ["infra.backup_dir = '$backup_dir'", 'restart_after_crash = on'],
	create_extension => 1);
my $port = $node->port;

# ---- helpers ---------------------------------------------------------------------------

sub sql
{
	my ($query, $db) = @_;
	return $node->safe_psql($db // 'postgres', $query);
}

# Sets (or with undef resets) a setting with ALTER SYSTEM and reloads; returns once a new
# session sees the change, after giving the launcher a moment to take the SIGHUP.
sub set_setting
{
	my ($name, $value) = @_;
	sql(defined $value ? "ALTER SYSTEM SET $name = '$value'" : "ALTER SYSTEM RESET $name");
	sql('SELECT pg_reload_conf()');
	my $seen = defined $value
	  ? "SELECT current_setting('$name') = '$value'"
	  : "SELECT coalesce(sourcefile NOT LIKE '%postgresql.auto.conf', true)
	       FROM pg_settings WHERE name = '$name'";
	defined(wait_for_value($node, 'postgres', $seen, 't', 10))
	  or die "$name was not " . (defined $value ? "set to '$value'" : 'reset') . ' by the reload';
	usleep(300_000);
	return;
}

# Queues a manual backup (wait => false: the launcher runs it); returns (backup id, job id).
sub queue_backup
{
	my $id = sql("SELECT infra.create_backup('manual')");
	return ($id, sql("SELECT job_id FROM infra.backups WHERE id = $id"));
}

# Waits up to $seconds for job $job to reach a final state; returns that state.
sub wait_job_final
{
	my ($job, $seconds) = @_;
	wait_for_value($node, 'postgres',
		"SELECT state IN ('succeeded', 'failed', 'cancelled') FROM infra.jobs WHERE id = $job",
		't', $seconds // 60);
	return sql("SELECT state FROM infra.jobs WHERE id = $job");
}

sub job_error
{
	my ($job) = @_;
	return sql("SELECT coalesce(error, '<null>') FROM infra.jobs WHERE id = $job");
}

# "<status>|<path or no path>|<the job's error or another error>" for backup $id.
sub backup_row
{
	my ($id) = @_;
	return sql(
		"SELECT b.status || '|' || CASE WHEN b.path IS NULL THEN 'no path' ELSE 'path' END
		        || '|' || CASE WHEN b.error IS NOT DISTINCT FROM j.error THEN 'the job''s error'
		                       ELSE 'another error' END
		   FROM infra.backups b JOIN infra.jobs j ON j.id = b.job_id WHERE b.id = $id");
}

# Entries of a directory (without . and ..), sorted; () if it does not exist.
sub entries
{
	my ($dir) = @_;
	opendir(my $dh, $dir) or return ();
	my @names = sort grep { $_ ne '.' && $_ ne '..' } readdir $dh;
	closedir $dh;
	return @names;
}

# SHA-256 of every file under $dir, by relative name.
sub tree_sha256
{
	my ($dir) = @_;
	my %sums;
	find(
		{
			no_chdir => 1,
			wanted => sub {
				return unless -f $File::Find::name;
				my $rel = substr($File::Find::name, length($dir) + 1);
				$sums{$rel} = Digest::SHA->new(256)->addfile($File::Find::name, 'b')->hexdigest;
			}
		},
		$dir);
	return \%sums;
}

# Pids of pg_dump processes connected to this node's port.
sub pg_dump_pids
{
	my @pids;
	for my $cmdline (glob '/proc/[0-9]*/cmdline')
	{
		open(my $fh, '<', $cmdline) or next;
		local $/;
		my $text = <$fh> // '';
		close $fh;
		my @argv = split /\0/, $text;
		next unless @argv && $argv[0] =~ m{/pg_dump$} && grep { $_ eq "--port=$port" } @argv;
		push @pids, ($cmdline =~ m{/proc/(\d+)/})[0];
	}
	return @pids;
}

# Waits up to $seconds until no pg_dump of this node runs; returns the pids still there.
sub wait_no_pg_dump
{
	my ($seconds) = @_;
	my $until = time() + $seconds;
	my @pids;
	while (1)
	{
		@pids = pg_dump_pids();
		return @pids if !@pids || time() > $until;
		usleep(100_000);
	}
}

# Waits up to $seconds until no server backend of a job's child (pg_dump, psql,
# pg_dumpall: application_name "infra_ext <program>") is connected; returns those still
# there ("" when none).
sub wait_no_job_backends
{
	my ($seconds) = @_;
	my $query = "SELECT coalesce(string_agg(pid || ' ' || application_name || ' '
	                    || coalesce(wait_event_type || ':' || wait_event, state)
	                    || ' xmin ' || coalesce(backend_xmin::text, '-'), ', ' ORDER BY pid), '')
	               FROM pg_stat_activity WHERE application_name LIKE 'infra\\_ext %'";
	wait_for_value($node, 'postgres', $query, '', $seconds);
	return sql($query);
}

# The backup directory holds exactly the directories of the succeeded backups in it.
sub check_backup_dir_clean
{
	my ($label) = @_;
	my @expected = sort map { s{^\Q$backup_dir\E/}{}r } split /\n/,
	  sql("SELECT path FROM infra.backups WHERE status = 'succeeded'
	        AND path LIKE '$backup_dir/%' ORDER BY path");
	is_deeply([ entries($backup_dir) ], \@expected,
		"$label: the backup directory holds only the succeeded backups (no .partial, nothing of the failed one)");
}

# The baseline backup, taken first; its files must never change.
my ($base_id, $base_path, $base_files);

sub check_base_intact
{
	my ($label) = @_;
	is(sql("SELECT status || '|' || path FROM infra.backups WHERE id = $base_id"),
		"succeeded|$base_path", "$label: the earlier backup's catalog row is unchanged");
	is_deeply(tree_sha256($base_path), $base_files,
		"$label: the earlier backup's files and their SHA-256 are unchanged");
	my ($dump_name, $catalog_sha) = split /\|/,
	  sql("SELECT manifest->'files'->0->>'name' || '|' || sha256 FROM infra.backups WHERE id = $base_id");
	is(Digest::SHA->new(256)->addfile("$base_path/$dump_name", 'b')->hexdigest,
		$catalog_sha, "$label: the earlier backup's dump still matches the catalog's sha256");
}

# A backup through the launcher succeeds; returns its id.
sub check_next_backup
{
	my ($label) = @_;
	my ($id, $job) = queue_backup();
	is(wait_job_final($job), 'succeeded', "$label: the next backup succeeds")
	  or diag('its error: ' . job_error($job));
	is(backup_row($id), "succeeded|path|the job's error",
		"$label: ... and its catalog row is succeeded with a path");
	my $path = sql("SELECT path FROM infra.backups WHERE id = $id");
	ok(-f "$path/manifest.json", "$label: ... and its files are there");
	return $id;
}

# The checks every failed backup gets.
sub check_failed_backup
{
	my ($label, $id, $job, $partial) = @_;
	is(backup_row($id), "failed|no path|the job's error",
		"$label: the catalog row is failed, has no path and carries the job's error");
	ok(!-e $partial, "$label: the .partial directory $partial is gone");
	is(join(',', wait_no_pg_dump(5)), '', "$label: no pg_dump process is left");
	is(wait_no_job_backends(5), '',
		"$label: no server backend of the job's pg_dump or psql is left");
	check_backup_dir_clean($label);
	check_base_intact($label);
}

# ---- baseline --------------------------------------------------------------------------
sql('CREATE TABLE x (id int PRIMARY KEY, note text)');
sql("INSERT INTO x SELECT g, 'row ' || g FROM generate_series(1, 1000) g");

my $base_job;
($base_id, $base_job) = queue_backup();
is(wait_job_final($base_job), 'succeeded', 'baseline: the first backup succeeds')
  or diag('its error: ' . job_error($base_job));
$base_path = sql("SELECT path FROM infra.backups WHERE id = $base_id");
like($base_path, qr{^\Q$backup_dir\E/manual-\d{6}-postgres-\d{8}T\d{6}Z$},
	'baseline: its directory is in infra.backup_dir');
$base_files = tree_sha256($base_path);
is(join(',', sort keys %$base_files), 'globals.sql,manifest.json,postgres.dump',
	'baseline: it holds the dump, globals.sql and manifest.json');
is( sql("SELECT string_agg(f->>'name' || '=' || (f->>'sha256'), ',' ORDER BY f->>'name')
		   FROM infra.backups, jsonb_array_elements(manifest->'files') f WHERE id = $base_id"),
	join(',', map { "$_=$base_files->{$_}" } grep { $_ ne 'manifest.json' } sort keys %$base_files),
	'baseline: the catalog manifest lists the files with their actual SHA-256');
check_base_intact('baseline');

# ---- 1. pg_dump cannot lock a table ----------------------------------------------------
set_setting('infra.backup_lock_wait_timeout', '500ms');
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE x IN ACCESS EXCLUSIVE MODE');

my $t0 = time();
my ($lock_id, $lock_job) = queue_backup();
my $lock_partial = sql("SELECT params->>'partial' FROM infra.jobs WHERE id = $lock_job");
is(wait_job_final($lock_job, 30), 'failed', 'lock timeout: the job fails');
cmp_ok(time() - $t0, '<', 20,
	'lock timeout: it fails after the 500ms lock wait, not the 60s default');
my $lock_error = job_error($lock_job);
like($lock_error, qr/pg_dump failed \(exited with code 1\)/,
	'lock timeout: the error says pg_dump failed');
like($lock_error,
	qr/(canceling statement due to (statement|lock) timeout|could not obtain lock)/,
	"lock timeout: the error carries pg_dump's own words about the lock");
like($lock_error, qr/LOCK TABLE public\.x IN ACCESS SHARE MODE/,
	'lock timeout: the error names the statement that waited (the locked table)');
check_failed_backup('lock timeout', $lock_id, $lock_job, $lock_partial);

$locker->query_safe('COMMIT');
$locker->quit;
set_setting('infra.backup_lock_wait_timeout', undef);
is(sql('SHOW infra.backup_lock_wait_timeout'), '1min',
	'lock timeout: the setting is back to its default');
check_next_backup('lock timeout');

# ---- 2. the backup directory cannot be written -----------------------------------------
# (a) infra.backup_dir itself is read-only (0500, owned by the server's user): the
# administrator's choice is kept, the job must not chmod it writable and write anyway.
my $ro_dir = "$tmp/read_only_backups";
mkdir $ro_dir or die "mkdir $ro_dir: $!";
chmod 0500, $ro_dir or die "chmod $ro_dir: $!";
set_setting('infra.backup_dir', $ro_dir);
my ($ro_id, $ro_job) = queue_backup();
my $ro_partial = sql("SELECT params->>'partial' FROM infra.jobs WHERE id = $ro_job");
is(wait_job_final($ro_job), 'failed', 'read-only backup_dir: the job fails');
my $ro_error = job_error($ro_job);
like($ro_error, qr/\Q$ro_dir\E\S*: Permission denied/,
	'read-only backup_dir: the error names the path and says "Permission denied"');
is(sprintf('%04o', (stat $ro_dir)[2] & 07777), '0500',
	'read-only backup_dir: its mode is still 0500 (the job did not make it writable)');
is(join(',', entries($ro_dir)), '', 'read-only backup_dir: nothing was written into it');
is(backup_row($ro_id), "failed|no path|the job's error",
	'read-only backup_dir: the catalog row is failed, without a path');
ok(!-e $ro_partial, 'read-only backup_dir: no .partial directory');

# (b) infra.backup_dir does not exist and its parent is read-only.
my $ro_parent = "$tmp/read_only_parent";
mkdir $ro_parent or die "mkdir $ro_parent: $!";
chmod 0500, $ro_parent or die "chmod $ro_parent: $!";
set_setting('infra.backup_dir', "$ro_parent/backups");
my ($rop_id, $rop_job) = queue_backup();
is(wait_job_final($rop_job), 'failed', 'read-only parent: the job fails');
like(job_error($rop_job),
	qr/could not create directory \Q$ro_parent\E\/backups: Permission denied/,
	'read-only parent: the error names the directory and says "Permission denied"');
is(join(',', entries($ro_parent)), '', 'read-only parent: nothing was created');
is(backup_row($rop_id), "failed|no path|the job's error",
	'read-only parent: the catalog row is failed, without a path');

# (c) infra.backup_dir's parent does not exist.
my $missing = "$tmp/no_such_parent/backups";
set_setting('infra.backup_dir', $missing);
my ($nop_id, $nop_job) = queue_backup();
is(wait_job_final($nop_job), 'failed', 'missing parent: the job fails');
like(job_error($nop_job),
	qr/could not create directory \Q$missing\E: No such file or directory/,
	'missing parent: the error names the directory and says "No such file or directory"');
ok(!-e "$tmp/no_such_parent", 'missing parent: nothing was created');
is(backup_row($nop_id), "failed|no path|the job's error",
	'missing parent: the catalog row is failed, without a path');

set_setting('infra.backup_dir', undef);
is(sql('SHOW infra.backup_dir'), $backup_dir, 'unwritable: infra.backup_dir is restored');
check_backup_dir_clean('unwritable');
check_base_intact('unwritable');
check_next_backup('unwritable');
chmod 0700, $ro_dir, $ro_parent;

# ---- 3. the disk fills up --------------------------------------------------------------
# 100000 rows of 128 random bytes: the compressed dump is about 15 MB, the file system 8 MB.
sql("CREATE TABLE big AS SELECT g AS id, decode(md5(random()::text) || md5(random()::text)
	|| md5(random()::text) || md5(random()::text) || md5(random()::text)
	|| md5(random()::text) || md5(random()::text) || md5(random()::text), 'hex') AS payload
	FROM generate_series(1, 100000) g");

my $small_fs = $ENV{INFRA_TEST_SMALL_FS};
if (!defined $small_fs || $small_fs eq '')
{
	fail('INFRA_TEST_SMALL_FS not set: run through scripts/test.sh (it mounts an 8 MB tmpfs)');
}
elsif (!-d $small_fs || !-w $small_fs)
{
	fail("INFRA_TEST_SMALL_FS=$small_fs is not a directory this user can write");
}
else
{
	my @df = split /\s+/, (split /\n/, `df -Pk '$small_fs'`)[1] // '';
	ok(defined $df[1] && $df[1] <= 16 * 1024,
		"disk full: $small_fs is a small file system (" . ($df[1] // '?') . ' kB)');

	my $full_dir = "$small_fs/backups_$$";
	set_setting('infra.backup_dir', $full_dir);
	my ($full_id, $full_job) = queue_backup();
	my $full_partial = sql("SELECT params->>'partial' FROM infra.jobs WHERE id = $full_job");
	like($full_partial, qr{^\Q$full_dir\E/\.manual-\d{6}-postgres-\d{8}T\d{6}Z\.partial$},
		'disk full: the job writes into the small file system');
	is(wait_job_final($full_job), 'failed', 'disk full: the job fails');
	like(job_error($full_job),
		qr/could not write \Q$full_partial\E\/postgres\.dump: No space left on device/,
		'disk full: the error names the file and says "No space left on device"');
	is(backup_row($full_id), "failed|no path|the job's error",
		'disk full: the catalog row is failed, without a path');
	ok(!-e $full_partial, 'disk full: the .partial directory is gone');
	is(join(',', entries($full_dir)), '', 'disk full: the small file system holds no file of the job');
	@df = split /\s+/, (split /\n/, `df -Pk '$small_fs'`)[1] // '';
	cmp_ok($df[2] // 1e9, '<', 512, "disk full: the small file system's space is free again ($df[2] kB used)");
	is(join(',', wait_no_pg_dump(5)), '', 'disk full: no pg_dump process is left');
	is(wait_no_job_backends(5), '', 'disk full: no server backend of the job is left');
	is(sql('SELECT 1'), '1', 'disk full: the server keeps running');
	unlike(slurp_file($node->logfile), qr/PANIC|server process .* was terminated/,
		'disk full: no crash in the server log');

	set_setting('infra.backup_dir', undef);
	is(sql('SHOW infra.backup_dir'), $backup_dir, 'disk full: infra.backup_dir is restored');
	check_backup_dir_clean('disk full');
	check_base_intact('disk full');
	check_next_backup('disk full');
	rmdir $full_dir;
}

# ---- 4. the job's worker is killed with SIGKILL mid-dump -------------------------------
{
	my ($kill_id, $kill_job) = queue_backup();
	my $kill_partial = sql("SELECT params->>'partial' FROM infra.jobs WHERE id = $kill_job");
	my $dump = "$kill_partial/postgres.dump";
	# Wait until the dump file has data, then freeze the worker (SIGSTOP) mid-dump.
	my $worker;
	my $until = time() + 30;
	while (time() < $until)
	{
		$worker //= sql("SELECT e->>'worker_pid' FROM jsonb_array_elements(infra._running_jobs()) e
		                 WHERE (e->>'job_id')::bigint = $kill_job AND (e->>'worker_pid')::int > 0");
		$worker = undef if defined $worker && $worker eq '';
		if (defined $worker && -s $dump)
		{
			kill 'STOP', $worker;
			last;
		}
		usleep(5_000);
	}
	ok(defined $worker, 'SIGKILL: the worker of the running job was found');
	$worker //= 0;
	is(sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'infra job'"),
		$worker, "SIGKILL: pg_stat_activity shows the same worker ('infra job')");
	is(sql("SELECT state FROM infra.jobs WHERE id = $kill_job"), 'running',
		'SIGKILL: the job is running');
	ok((-s $dump // 0) > 0, "SIGKILL: the dump is half written (" . (-s $dump // 0) . ' bytes)');
	ok(scalar(pg_dump_pids()) > 0, 'SIGKILL: its pg_dump runs');

	my $offset = -s $node->logfile;
	kill 'KILL', $worker or die "cannot kill $worker: $!";
	$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
	$node->poll_query_until('postgres', 'SELECT 1', '1') or die 'no restart after the crash';
	like(slurp_file($node->logfile, $offset),
		qr/background worker "infra job" \(PID $worker\) was terminated by signal 9/,
		'SIGKILL: the postmaster saw the worker killed and restarted the server');

	is(wait_job_final($kill_job), 'failed', 'SIGKILL: the job ends failed');
	like(job_error($kill_job), qr/the server restarted \(or crashed\) while the job was running/,
		'SIGKILL: its error says the server restarted or crashed');
	ok( defined wait_for_log_line($node,
			qr/infra launcher: job $kill_job was running when the server stopped; marking it failed/,
			$offset, 5),
		'SIGKILL: the launcher logged that it marked the job failed');
	check_failed_backup('SIGKILL', $kill_id, $kill_job, $kill_partial);
	check_next_backup('SIGKILL');
}
sql('DROP TABLE big');

# ---- 5. the server restarts while a backup runs ----------------------------------------
{
	$locker = $node->background_psql('postgres');
	$locker->query_safe('BEGIN');
	$locker->query_safe('LOCK TABLE x IN ACCESS EXCLUSIVE MODE');
	my ($rs_id, $rs_job) = queue_backup();
	my $rs_partial = sql("SELECT params->>'partial' FROM infra.jobs WHERE id = $rs_job");
	ok( defined wait_for_value($node, 'postgres',
			"SELECT count(*) FROM pg_stat_activity
			  WHERE application_name = 'infra_ext pg_dump' AND wait_event_type = 'Lock'",
			'1', 30),
		'restart: the backup runs, its pg_dump waits for the table lock');
	is(sql("SELECT state FROM infra.jobs WHERE id = $rs_job"), 'running', 'restart: the job is running');
	ok(-d $rs_partial, 'restart: its .partial directory exists');

	$node->restart;
	eval { $locker->quit; };
	my $state = wait_job_final($rs_job);
	like($state, qr/^(failed|cancelled)$/, "restart: the job ends final ($state)");
	my $error = job_error($rs_job);
	my $restarted = qr/the server restarted \(or crashed\) while the job was running/;
	my $stopped = qr/cancelled: the job's worker was asked to stop/;
	like($error, qr/$restarted|$stopped/,
		"restart: its error says the server restarted or the job was stopped ($error)");
	is(backup_row($rs_id), "$state|no path|the job's error",
		'restart: the catalog row has the same state, no path, the error');
	ok(!-e $rs_partial, 'restart: the .partial directory is gone');
	is(join(',', wait_no_pg_dump(5)), '', 'restart: no pg_dump process is left');
	is(wait_no_job_backends(5), '', 'restart: no server backend of the job is left');
	check_backup_dir_clean('restart');
	check_base_intact('restart');
	check_next_backup('restart');
}

# ---- 6. the database to back up is gone ------------------------------------------------
{
	sql('CREATE DATABASE gone');
	set_setting('infra.backup_databases', 'gone');
	sql('DROP DATABASE gone');
	my $counts = "SELECT (SELECT count(*) FROM infra.backups) || '/' || (SELECT count(*) FROM infra.jobs)";
	my $before = sql($counts);
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT infra.create_backup('manual')");
	isnt($rc, 0, 'dropped database: create_backup refuses');
	like($err, qr/ERROR:  database gone in infra\.backup_databases does not exist/,
		'dropped database: the error names the database and the setting');
	is(sql($counts), $before, 'dropped database: no backup or job row was created');

	# Gone between queueing and the worker's start: the backup is queued and the
	# database renamed away in the same transaction, before the launcher sees the job.
	sql('CREATE DATABASE gone');
	my $offset = -s $node->logfile;
	my $gone_id = sql("BEGIN;
		SELECT infra.create_backup('manual');
		ALTER DATABASE gone RENAME TO gone_elsewhere;
		COMMIT;");
	my $gone_job = sql("SELECT job_id FROM infra.backups WHERE id = $gone_id");
	is(sql("SELECT database FROM infra.backups WHERE id = $gone_id"), 'gone',
		'database gone after queueing: the backup of "gone" was queued');
	is(wait_job_final($gone_job), 'failed', 'database gone after queueing: the job fails');
	like(job_error($gone_job), qr/could not connect/,
		'database gone after queueing: the error says the worker could not connect');
	ok(defined wait_for_log_line($node, qr/FATAL:  database "gone" does not exist/, $offset, 5),
		'database gone after queueing: the server log says the database does not exist');
	is(backup_row($gone_id), "failed|no path|the job's error",
		'database gone after queueing: the catalog row is failed');
	check_backup_dir_clean('database gone');
	sql('DROP DATABASE gone_elsewhere');
	set_setting('infra.backup_databases', undef);
	check_base_intact('database gone');
	check_next_backup('database gone');
}

# ---- 7. cleanup removes failed backups' rows -------------------------------------------
{
	my $failed = sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM infra.backups WHERE status = 'failed'");
	like($failed, qr/\b$lock_id\b/, 'cleanup: the lock-timeout backup is in the catalog as failed');
	is( sql("SELECT string_agg(backup_id::text, ',' ORDER BY backup_id)
		   FROM infra.cleanup_backups(dry_run => true)
		  WHERE status = 'failed' AND reason = 'failed backup' AND action = 'would remove'"),
		$failed, "cleanup dry run: every failed backup is listed with reason 'failed backup'");
	is(sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM infra.backups WHERE status = 'failed'"),
		$failed, 'cleanup dry run: nothing was removed');
	is( sql("SELECT action || '|' || reason || '|' || coalesce(path, '<null>')
		   FROM infra.cleanup_backups() WHERE backup_id = $lock_id"),
		'removed|failed backup|<null>', 'cleanup: the failed backup is removed');
	is(sql("SELECT count(*) FROM infra.backups WHERE status = 'failed'"), '0',
		'cleanup: no failed backup row is left');
	is(sql("SELECT count(*) FROM infra.backups WHERE id = $lock_id"), '0',
		"cleanup: the lock-timeout backup's row is gone");
	check_backup_dir_clean('cleanup');
	check_base_intact('cleanup');
}

$node->stop;
done_testing();
