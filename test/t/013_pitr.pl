# 013_pitr.pl: point-in-time recovery end to end, against a real server, real
# pg_basebackup and the real infra_ext_ctl.
#
#  (1) before any base backup, recovery_plan() and cleanup_wal_archive() refuse clearly;
#  (2) create_base_backup(wait => true) runs pg_basebackup, verifies it with
#      pg_verifybackup and catalogues LSNs, timeline and system identifier;
#  (3) the proof: batch A, time T1, batch B, a table dropped, WAL switched; the plan for
#      T1 is complete and its script is PostgreSQL 15's (recovery.signal, no
#      recovery.conf); `infra_ext_ctl restore --target-time T1 --start` into a new data
#      directory brings back exactly batch A and the dropped table, not batch B, on a
#      new timeline; a restore that archives its timeline 2 into the same archive does
#      not lead a later recovery to an earlier moment astray (it stays on timeline 1);
#  (4) refusals, each leaving nothing behind: a non-empty data directory, a target
#      before the base backup, in the future, past the newest archived transaction, an
#      unparsable time; a deleted archived segment is named by recovery_plan(),
#      wal_archive_stats() and `infra_ext_ctl verify`, and makes the restore refuse;
#  (5) wal_archive_stats(): segments, timelines, RPO, the WAL monitor's history;
#  (6) retention keeps infra.base_backup_retention base backups; cleanup_wal_archive()
#      removes only WAL older than the oldest retained one (dry run first);
#  (7) a tar + zstd base backup is checked against its manifest and restores;
#  (8) a base backup that cannot write its directory fails and leaves nothing;
#  (9) a base backup slowed by infra.base_backup_max_rate can be cancelled, and a crash
#      in its middle fails it; neither leaves a partial directory, and the next one
#      succeeds;
# (10) the seeded (disabled) base backup and WAL cleanup schedules do their work when run;
# (11) after DROP EXTENSION / CREATE EXTENSION (the catalog and its id sequence start
#      again, the base backups on disk stay) a new base backup's id continues past every
#      id in infra.base_backup_dir, so an id still names one base backup.
use strict;
use warnings;

use File::Copy qw(move);
use IPC::Run;
use Time::HiRes qw(usleep);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

my $bindir = '/usr/lib/postgresql/15/bin';
my $ctl = "$bindir/infra_ext_ctl";
-x $ctl or BAIL_OUT("$ctl is missing: run scripts/build.sh first");

my $node = new_infra_node('pitr', start => 0);
my $base = $node->basedir;
my $archive = "$base/wal_archive";
my $backups = "$base/base_backups";
mkdir $archive or die "mkdir $archive: $!";
$node->append_conf('postgresql.conf', join('', map { "$_\n" }
	  "wal_level = replica", "archive_mode = on", "archive_library = 'infra_ext'",
	  "infra.wal_archive_dir = '$archive'", "infra.wal_compression = zstd",
	  "infra.base_backup_dir = '$backups'", "max_wal_senders = 10",
	  "infra.wal_monitor_interval = 5", "wal_keep_size = '1GB'",
	  "restart_after_crash = on"));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION infra_ext');

sub sql { $node->safe_psql('postgres', @_) }

# Runs a command; returns (exit code, stdout, stderr).
sub run_cmd
{
	my @cmd = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

my @locations = ('--archive', $archive, '--base-backups', $backups);

# Segment names in the archive (not .history/.backup).
sub archived_segments
{
	opendir(my $dh, $archive) or die "$archive: $!";
	my @names = sort grep { /^[0-9A-F]{24}$/ } readdir $dh;
	closedir $dh;
	return @names;
}

# Switches to a new segment and waits until the completed one is archived.
sub switch_and_archive
{
	my $segment = sql("SELECT pg_walfile_name(pg_current_wal_lsn())");
	sql('SELECT pg_switch_wal()');
	wait_for_value($node, 'postgres',
		"SELECT last_archived_wal >= '$segment' FROM pg_stat_archiver", 't', 60)
	  or die "segment $segment was not archived";
	return $segment;
}

# ---- (1) nothing to plan from yet ---------------------------------------------------
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT infra.recovery_plan(now() - interval '1 minute')");
isnt($rc, 0, 'recovery_plan without a base backup fails');
like($err, qr/no base backup exists in \Q$backups\E/, '... saying no base backup exists');
like($err, qr/create_base_backup/, '... and how to take one');
($rc, $out, $err) = $node->psql('postgres', 'SELECT infra.cleanup_wal_archive()');
like($err, qr/no base backup exists.*nothing was removed/,
	'cleanup_wal_archive without a base backup removes nothing');

# ---- (2) a base backup ----------------------------------------------------------------
is(sql('SELECT infra.create_base_backup(wait => true)'), '1', 'create_base_backup returns id 1');
my ($status, $verified, $tli, $lsn_ok, $sysid_ok, $path) = split /\|/, sql(
	"SELECT status, verified_by, timeline, start_lsn <= stop_lsn AND start_time <= stop_time,
	        system_identifier = (SELECT system_identifier FROM pg_control_system()), path
	   FROM infra.base_backups WHERE id = 1");
is($status, 'succeeded', 'base backup 1 succeeded');
is($verified, 'pg_verifybackup', '... verified by pg_verifybackup');
is($tli, '1', '... on timeline 1');
is($lsn_ok, 't', '... start LSN/time before stop LSN/time');
is($sysid_ok, 't', '... with this server\'s system identifier');
ok(-f "$path/infra_base_backup.json" && -f "$path/data/backup_manifest"
	  && -f "$path/data/PG_VERSION", '... its directory holds the data, manifest and description');
is(sql("SELECT kind || ' ' || state FROM infra.jobs WHERE id = (SELECT job_id FROM infra.base_backups WHERE id = 1)"),
	'base_backup succeeded', '... run as a base_backup job');
is(sql("SELECT count(*) FROM infra.audit_log WHERE action = 'base_backup_request'"), '1',
	'... and audited');

# ---- (3) the proof --------------------------------------------------------------------
sql("CREATE TABLE items (id int PRIMARY KEY, batch text);
     INSERT INTO items SELECT g, 'A' FROM generate_series(1, 1000) g;
     CREATE TABLE doomed (x int); INSERT INTO doomed SELECT generate_series(1, 7);");
# Batch A's WAL fills its own segment: deleting it later makes a gap before T1.
my $segment_a = switch_and_archive();
usleep(1_100_000);
my $t1 = sql('SELECT clock_timestamp()');
usleep(1_100_000);
sql("INSERT INTO items SELECT g, 'B' FROM generate_series(1001, 2000) g");
usleep(1_100_000);
my $t_b = sql('SELECT clock_timestamp()');    # after batch B, before the drop
usleep(1_100_000);
sql('DROP TABLE doomed');
sql('CREATE TABLE after_drop (x int)');    # a transaction that ends after the drop
switch_and_archive();

my ($ok, $bb, $missing, $reaches_by) = split /\|/, sql(
	"WITH p AS (SELECT infra.recovery_plan('$t1') AS j)
	 SELECT j->>'ok', j->'base_backup'->>'id', jsonb_array_length(j->'missing_segments'),
	        j->>'archive_reaches_by' FROM p");
my $script = sql("SELECT infra.recovery_plan('$t1')->>'script'");
is($ok, 'true', 'the plan for T1 is complete');
is($bb, '1', '... from base backup 1');
is($missing, '0', '... with no missing segment');
is($reaches_by, 'transaction', '... measuring the archive by its newest transaction');
like($script, qr/recovery\.signal/, '... its script writes recovery.signal');
like($script, qr/recovery_target_action = 'promote'/, '... promotes at the target');
like($script, qr/infra_ext_ctl'? archive-get/, '... restores WAL with infra_ext_ctl archive-get');
unlike($script, qr/(?:>|touch|tee|cat)\s[^\n]*recovery\.conf/, '... and never writes recovery.conf');

my $restored = "$base/restored";
my $port = PostgreSQL::Test::Cluster::get_free_port();
($rc, $out, $err) = run_cmd($ctl, 'restore', @locations, '--pgdata', $restored,
	'--target-time', $t1, '--port', $port, '--archive-mode', 'off', '--start');
is($rc, 0, 'infra_ext_ctl restore --start succeeds') or diag("stdout:\n$out\nstderr:\n$err");
like($out, qr/recovery stopping before commit/, '... and reports where recovery stopped');
like(slurp_file("$restored/postgresql.auto.conf"), qr/archive-get --archive \S+ --prefetch 4 %f/,
	'... its restore_command reads ahead 4 segments');
ok(!-e "$restored/pg_wal/.infra_ext_prefetch", '... and no read-ahead spool is left behind');
my @restored_psql = ("$bindir/psql", '-X', '-At', '-h', $node->host, '-p', $port, '-d', 'postgres', '-c');
sub restored_sql
{
	my ($q) = @_;
	my ($code, $o, $e) = run_cmd(@restored_psql, $q);
	die "query on the restored server failed: $e" if $code != 0;
	chomp $o;
	return $o;
}
is(restored_sql("SELECT count(*) || ' ' || min(id) || '-' || max(id) FROM items"), '1000 1-1000',
	'restored: exactly batch A');
is(restored_sql("SELECT count(*) FROM items WHERE batch = 'B'"), '0', 'restored: no row of batch B');
is(restored_sql('SELECT sum(x) FROM doomed'), '28', 'restored: the dropped table is back, whole');
is(restored_sql('SELECT pg_is_in_recovery()'), 'f', 'restored: promoted');
is(restored_sql('SELECT timeline_id FROM pg_control_checkpoint()'), '2', 'restored: on timeline 2');
is(restored_sql('SHOW archive_mode'), 'off', 'restored: --archive-mode off is in force');
system_or_bail("$bindir/pg_ctl", '-D', $restored, '-m', 'fast', 'stop');

# A restore that keeps archiving (--archive-mode keep) puts its new timeline 2 into the
# same archive. A later plan for a moment between T1 and that restore must stay on
# timeline 1, which holds batch B; timeline 2 (born after the target) would stop at T1.
my $kept = "$base/restored_keep";
($rc, $out, $err) = run_cmd($ctl, 'restore', @locations, '--pgdata', $kept,
	'--target-time', $t1, '--port', $port, '--archive-mode', 'keep', '--start');
is($rc, 0, 'a restore that keeps archiving succeeds') or diag("stdout:\n$out\nstderr:\n$err");
my $t0_wait = time();
sleep 1 while !-e "$archive/00000002.history" && time() - $t0_wait < 30;
ok(-e "$archive/00000002.history", '... and archives timeline 2\'s history into the archive');
system_or_bail("$bindir/pg_ctl", '-D', $kept, '-m', 'fast', 'stop');
my ($tl_ok, $tl_chain, $tl_setting) = split /\|/, sql(
	"WITH p AS (SELECT infra.recovery_plan('$t_b') AS j)
	 SELECT j->>'ok', j->'wal'->>'timelines', j->>'recovery_target_timeline' FROM p");
is($tl_ok, 'true', 'a plan for a time between T1 and that restore is complete');
is($tl_chain, '[1]', '... stays on timeline 1');
is($tl_setting, '1', '... naming it (recovery_target_timeline = 1, not latest)');
my $restored_b = "$base/restored_b";
($rc, $out, $err) = run_cmd($ctl, 'restore', @locations, '--pgdata', $restored_b,
	'--target-time', $t_b, '--port', $port, '--start');
is($rc, 0, 'restore to that time succeeds') or diag("stdout:\n$out\nstderr:\n$err");
is(restored_sql("SELECT count(*) FILTER (WHERE batch = 'A') || ' ' || count(*) FILTER (WHERE batch = 'B') FROM items"),
	'1000 1000', '... with batches A and B');
is(restored_sql('SELECT sum(x) FROM doomed'), '28', '... and the table dropped later still there');
is(restored_sql('SHOW archive_mode'), 'off', '... archiving off by default in a copy');
system_or_bail("$bindir/pg_ctl", '-D', $restored_b, '-m', 'fast', 'stop');

# ---- (4) refusals -----------------------------------------------------------------------
open(my $marker, '>', "$restored/KEEP_ME") or die; close $marker;
($rc, $out, $err) = run_cmd($ctl, 'restore', @locations, '--pgdata', $restored,
	'--target-time', $t1, '--port', $port);
is($rc, 4, 'restore into a non-empty data directory is refused (exit 4)');
like($err, qr/is not empty: pass --replace/, '... saying how to replace it');
ok(-f "$restored/KEEP_ME" && -f "$restored/PG_VERSION", '... and leaves it untouched');

my $before_backup = sql("SELECT stop_time - interval '1 second' FROM infra.base_backups WHERE id = 1");
($rc, $out, $err) = $node->psql('postgres', "SELECT infra.recovery_plan('$before_backup')");
like($err, qr/oldest base backup \(id 1\) ended at .*cannot be recovered/,
	'a target before the base backup ended is refused by recovery_plan');
($rc, $out, $err) = run_cmd($ctl, 'restore', @locations, '--pgdata', "$base/never1",
	'--target-time', $before_backup);
is($rc, 4, '... and by infra_ext_ctl restore (exit 4)');
like($err, qr/cannot be recovered/, '... with the same reason');
ok(!-e "$base/never1", '... creating nothing');

($rc, $out, $err) = $node->psql('postgres', "SELECT infra.recovery_plan(now() + interval '1 hour')");
like($err, qr/is in the future/, 'a target in the future is refused');

($rc, $out, $err) = run_cmd($ctl, 'restore', @locations, '--pgdata', "$base/never2",
	'--target-time', 'yesterday at noon');
is($rc, 2, 'an unparsable --target-time is a usage error (exit 2)');
like($err, qr/--target-time: .*yesterday at noon/, '... naming the text');
($rc, $out, $err) = run_cmd($ctl, 'restore', @locations, '--pgdata', "$base/never2",
	'--target-time', '2026-11-29 03:04:05');
like($err, qr/time zone/, 'a --target-time without a time zone is refused, asking for one');
($rc, $out, $err) = $node->psql('postgres', "SELECT infra.recovery_plan('not a time')");
like($err, qr/invalid input syntax for type timestamp with time zone/,
	'recovery_plan rejects an unparsable time');
ok(!-e "$base/never2", 'no refused restore created its data directory');

# Past the newest archived transaction: nothing after "now" has been archived.
my $now = sql('SELECT clock_timestamp()');
my ($behind_ok, $behind_code) = split /\|/, sql(
	"WITH p AS (SELECT infra.recovery_plan('$now') AS j)
	 SELECT j->>'ok', j->'problems'->0->>'code' FROM p");
is($behind_ok, 'false', 'a target after the newest archived transaction makes the plan incomplete');
is($behind_code, 'archive_behind_target', '... as archive_behind_target');
($rc, $out, $err) = run_cmd($ctl, 'restore', @locations, '--pgdata', "$base/never3",
	'--target-time', $now);
is($rc, 4, '... and infra_ext_ctl restore refuses it (exit 4)');
like($out, qr/the archive reaches \S+ \(the newest transaction end, in segment [0-9A-F]{24}\); the target \S+ is later/,
	'... saying where the archive ends');

# A gap: batch A's segment disappears from the archive.
move("$archive/$segment_a", "$base/$segment_a.away") or die "move: $!";
my ($gap_ok, $gap_names, $gap_code) = split /\|/, sql(
	"WITH p AS (SELECT infra.recovery_plan('$t1') AS j)
	 SELECT j->>'ok', j->>'missing_segments', j->'problems'->0->>'code' FROM p");
is($gap_ok, 'false', 'with a segment deleted the plan is incomplete');
like($gap_names, qr/\Q$segment_a\E/, '... and names the missing segment');
is($gap_code, 'missing_segments', '... as missing_segments');
is(sql("SELECT infra.wal_archive_stats()->'gaps'"), '1', 'wal_archive_stats counts the gap');
($rc, $out, $err) = run_cmd($ctl, 'restore', @locations, '--pgdata', "$base/never4",
	'--target-time', $t1);
is($rc, 4, 'infra_ext_ctl restore refuses a plan with a gap (exit 4)');
like($out, qr/\Q$segment_a\E/, '... naming the segment');
ok(!-e "$base/never4", '... creating nothing');
($rc, $out, $err) = run_cmd($ctl, 'verify', @locations);
is($rc, 4, 'infra_ext_ctl verify finds the gap (exit 4)');
like($out, qr/MISSING: \Q$segment_a\E/, '... and names it');
like($out, qr/base backup 1 .*continuous from/, '... and says how far base backup 1 reaches');
move("$base/$segment_a.away", "$archive/$segment_a") or die "move back: $!";
($rc, $out, $err) = run_cmd($ctl, 'verify', @locations, '--deep');
is($rc, 0, 'with the segment back, verify --deep passes') or diag($out);
like($out, qr/deep check: \d+ files decoded/, '... having decoded every file');
is(sql("SELECT infra.recovery_plan('$t1')->>'ok'"), 'true', '... and the plan is complete again');

# ---- (5) statistics ---------------------------------------------------------------------
wait_for_value($node, 'postgres',
	"SELECT jsonb_array_length(infra.wal_archive_stats()->'history') >= 1", 't', 30);
my ($segs, $tl, $rpo, $hist, $failed, $ready) = split /\|/, sql(
	"WITH s AS (SELECT infra.wal_archive_stats() AS j)
	 SELECT (j->'archive'->>'segments')::int > 3, j->'timelines'->0->>'timeline',
	        (j->>'rpo_seconds')::numeric >= 0, jsonb_array_length(j->'history') >= 1,
	        j->'archiver'->>'failed_count', j->>'ready_files' FROM s");
is($segs, 't', 'wal_archive_stats: the archive\'s segments');
is($tl, '1', 'wal_archive_stats: timeline 1');
is($rpo, 't', 'wal_archive_stats: the RPO (age of the last archived segment)');
is($hist, 't', 'wal_archive_stats: the WAL monitor\'s samples');
is($failed, '0', 'wal_archive_stats: no archiving failure');
like($ready, qr/^\d+$/, 'wal_archive_stats: the archive_status backlog');

# ---- (6) retention and WAL cleanup ------------------------------------------------------
is(sql('SELECT infra.create_base_backup(wait => true)'), '2', 'a second base backup');
switch_and_archive();
is(sql('SELECT infra.create_base_backup(wait => true)'), '3', 'a third base backup');
is(sql("SELECT string_agg(id || ':' || status, ',' ORDER BY id) FROM infra.base_backups"),
	'1:expired,2:succeeded,3:succeeded', 'retention (2) expired base backup 1');
ok(!-e $path, '... and removed its directory');

my $keep_from = sql("SELECT pg_walfile_name(start_lsn) FROM infra.base_backups WHERE id = 2");
my @older = grep { $_ lt $keep_from } archived_segments();
ok(@older > 0, 'the archive holds segments older than base backup 2');
my ($dry_count, $dry_from) = split /\|/, sql(
	"WITH c AS (SELECT infra.cleanup_wal_archive(dry_run => true) AS j)
	 SELECT j->>'removed_files', j->>'keep_from_segment' FROM c");
is($dry_from, $keep_from, 'cleanup keeps WAL from base backup 2\'s start segment');
ok($dry_count >= @older, 'the dry run lists the older segments (and .backup files)');
is(scalar(grep { $_ lt $keep_from } archived_segments()), scalar(@older), '... and removes nothing');
sql('SELECT infra.cleanup_wal_archive()');
is(scalar(grep { $_ lt $keep_from } archived_segments()), 0, 'cleanup removed the older segments');
ok((grep { $_ eq $keep_from } archived_segments()), '... but not the one base backup 2 starts in');
is(sql("SELECT count(*) FROM infra.audit_log WHERE action = 'wal_cleanup'"), '1', '... audited');
($rc, $out, $err) = run_cmd($ctl, 'verify', @locations);
is($rc, 0, 'after cleanup the archive is continuous for every retained base backup') or diag($out);

# ---- (7) tar + zstd ---------------------------------------------------------------------
$node->append_conf('postgresql.conf',
	"infra.base_backup_format = tar\ninfra.base_backup_compression = zstd\n");
$node->reload;
wait_for_value($node, 'postgres', "SELECT current_setting('infra.base_backup_format')", 'tar', 10);
is(sql('SELECT infra.create_base_backup(wait => true)'), '4', 'a tar + zstd base backup');
my ($tar_verified, $tar_path) = split /\|/,
  sql("SELECT verified_by, path FROM infra.base_backups WHERE id = 4");
is($tar_verified, 'infra_ext tar check', '... checked against its manifest with libarchive');
ok(-f "$tar_path/data/base.tar.zst", '... stored as base.tar.zst');
sql("INSERT INTO items SELECT g, 'C' FROM generate_series(2001, 2500) g");
usleep(1_100_000);
my $t2 = sql('SELECT clock_timestamp()');
usleep(1_100_000);
sql("INSERT INTO items SELECT g, 'D' FROM generate_series(2501, 3000) g");
switch_and_archive();
my $restored_tar = "$base/restored_tar";
($rc, $out, $err) = run_cmd($ctl, 'restore', @locations, '--pgdata', $restored_tar,
	'--target-time', $t2, '--port', $port, '--archive-mode', 'off', '--start');
is($rc, 0, 'restore from the tar base backup succeeds') or diag("stdout:\n$out\nstderr:\n$err");
like($out, qr/base backup:\s+4 \(tar/, '... choosing base backup 4');
is(restored_sql("SELECT count(*) FILTER (WHERE batch = 'C') || ' ' || count(*) FILTER (WHERE batch = 'D') FROM items"),
	'500 0', 'restored from tar: batch C there, batch D not');
system_or_bail("$bindir/pg_ctl", '-D', $restored_tar, '-m', 'fast', 'stop');

# ---- (8) a base backup that cannot be written -------------------------------------------
my $locked = "$base/locked";
mkdir $locked or die;
chmod 0500, $locked or die;
$node->append_conf('postgresql.conf', "infra.base_backup_dir = '$locked/backups'\n");
$node->reload;
wait_for_value($node, 'postgres', "SELECT current_setting('infra.base_backup_dir')",
	"$locked/backups", 10);
my $id = sql('SELECT infra.create_base_backup()');
wait_for_value($node, 'postgres',
	"SELECT status FROM infra.base_backups WHERE id = $id", 'failed', 60);
my $error = sql("SELECT error FROM infra.base_backups WHERE id = $id");
like($error, qr/\Q$locked\E\/backups.*Permission denied/,
	'an unwritable base backup directory fails the job, naming it');
ok(!-e "$locked/backups", '... creating nothing');
$node->append_conf('postgresql.conf', "infra.base_backup_dir = '$backups'\n");
$node->reload;
wait_for_value($node, 'postgres', "SELECT current_setting('infra.base_backup_dir')", $backups, 10);
is(sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM infra.base_backups WHERE status = 'succeeded'"),
	'3,4', '... and the retained base backups are untouched');
($rc, $out, $err) = run_cmd($ctl, 'verify', @locations);
is($rc, 0, '... and still restorable from the archive') or diag($out);

# ---- (9) cancelled and crashed base backups ---------------------------------------------
$node->append_conf('postgresql.conf', "infra.base_backup_max_rate = '256kB'\n");
$node->reload;
wait_for_value($node, 'postgres', "SHOW infra.base_backup_max_rate", '256kB', 10);

sub partial_dirs
{
	opendir(my $d, $backups) or die "$backups: $!";
	my @p = grep { /^\..*\.partial$/ } readdir $d;
	closedir $d;
	return scalar(@p);
}

# Starts a (slow) base backup and waits until pg_basebackup is writing it.
sub start_slow_base_backup
{
	my $bb = sql('SELECT infra.create_base_backup()');
	wait_for_value($node, 'postgres', "SELECT status FROM infra.base_backups WHERE id = $bb",
		'running', 60) or die "base backup $bb did not start";
	my $t0 = time();
	sleep 1 while partial_dirs() == 0 && time() - $t0 < 30;
	return $bb;
}

my $slow = start_slow_base_backup();
ok(partial_dirs() == 1, 'a throttled base backup is being written to a .partial directory');
is(sql("SELECT infra.cancel_job(job_id) FROM infra.base_backups WHERE id = $slow"), 'cancelling',
	'cancel_job stops a running base backup');
ok(defined wait_for_value($node, 'postgres',
	"SELECT status FROM infra.base_backups WHERE id = $slow", 'cancelled', 60),
	'... which ends cancelled');
is(partial_dirs(), 0, '... and leaves no partial directory');

my $crashed = start_slow_base_backup();
my $worker = sql("SELECT pid FROM pg_stat_activity
                   WHERE application_name = 'infra job ' ||
                         (SELECT job_id FROM infra.base_backups WHERE id = $crashed) || ' (base_backup)'");
like($worker, qr/^\d+$/, 'the base backup worker is visible in pg_stat_activity');
my $log_offset = -s $node->logfile;
kill 'KILL', $worker or die "kill $worker: $!";
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
$node->poll_query_until('postgres', 'SELECT 1', '1') or die 'no restart after the crash';
ok(defined wait_for_value($node, 'postgres',
	"SELECT status FROM infra.base_backups WHERE id = $crashed", 'failed', 60),
	'a base backup whose worker died in a crash is marked failed');
like(sql("SELECT error FROM infra.base_backups WHERE id = $crashed"), qr/restarted|crashed/,
	'... saying the server restarted');

$node->append_conf('postgresql.conf', "infra.base_backup_max_rate = 0\n");
$node->reload;
wait_for_value($node, 'postgres', "SHOW infra.base_backup_max_rate", '0', 10);
my $after = sql('SELECT infra.create_base_backup(wait => true)');
is(sql("SELECT status FROM infra.base_backups WHERE id = $after"), 'succeeded',
	'the next base backup succeeds');
is(partial_dirs(), 0, '... and no partial directory is left from the crash');
($rc, $out, $err) = run_cmd($ctl, 'verify', @locations);
is($rc, 0, 'the archive is continuous for every retained base backup') or diag($out);

# ---- (10) the seeded schedules' actions (run as pg_cron would run them) -----------------
is(sql("SELECT string_agg(name || ':' || action || ':' || enabled, ',' ORDER BY name)
          FROM infra.schedules WHERE action IN ('base backup', 'wal cleanup')"),
	'daily_wal_cleanup:wal cleanup:false,weekly_base_backup:base backup:false',
	'base backup and WAL cleanup schedules are seeded, disabled');
my $scheduled_job = sql("SELECT infra.run_schedule('weekly_base_backup')");
ok(defined wait_for_value($node, 'postgres',
	"SELECT state FROM infra.jobs WHERE id = $scheduled_job", 'succeeded', 60),
	'the base backup schedule\'s job runs in the launcher');
is(sql("SELECT status FROM infra.base_backups WHERE job_id = $scheduled_job"), 'succeeded',
	'... and catalogues a base backup');
is(sql("SELECT infra.run_schedule('daily_wal_cleanup') IS NULL"), 't',
	'the WAL cleanup schedule runs at once (no job)');
is(sql("SELECT count(*) FROM infra.audit_log WHERE action = 'wal_cleanup'"), '2',
	'... and is audited');

# ---- (11) ids stay unique across DROP/CREATE EXTENSION --------------------------------
sub ids_on_disk
{
	opendir(my $dh, $backups) or die "$backups: $!";
	my @ids = sort { $a <=> $b } map { /^\.?(\d+)-/ ? $1 : () } readdir $dh;
	closedir $dh;
	return @ids;
}
my @old_ids = ids_on_disk();
cmp_ok(scalar(@old_ids), '>=', 2, 'base backups on disk before the extension is dropped: '
	  . join(',', @old_ids));
my $old_highest = $old_ids[-1];
sql('DROP EXTENSION infra_ext CASCADE');
sql('CREATE EXTENSION infra_ext');
is(sql('SELECT count(*) FROM infra.base_backups'), '0', 'the re-created catalog is empty');
is(sql('SELECT infra._highest_base_backup_id_on_disk()'), $old_highest,
	'the highest id on disk is found from the directory names');
my $new_id = sql('SELECT infra.create_base_backup(wait => true)');
cmp_ok($new_id, '>', $old_highest,
	"the new base backup's id ($new_id) continues past the ids on disk ($old_highest)");
is(sql("SELECT status FROM infra.base_backups WHERE id = $new_id"), 'succeeded',
	'... and it succeeds');
my @new_ids = ids_on_disk();
is(scalar(grep { $_ == $new_id } @new_ids), 1, '... one directory on disk has that id');
is(sql("SELECT infra.recovery_plan(now(), $new_id)->'base_backup'->>'id'"), $new_id,
	'a recovery plan for that id uses that base backup');

# ---- --help on every command ----------------------------------------------------------
for my $command ('archive-get', 'plan', 'restore', 'verify')
{
	($rc, $out, $err) = run_cmd($ctl, $command, '--help');
	ok($rc == 0 && $out =~ /^Usage: infra_ext_ctl \Q$command\E/ && $out =~ /Exit codes/,
		"infra_ext_ctl $command --help shows its usage and exit codes");
}
($rc, $out, $err) = run_cmd($ctl, 'frobnicate');
is($rc, 2, 'an unknown command is a usage error (exit 2)');

$node->stop;
done_testing();
