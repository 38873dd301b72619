# 010_pg_cron.pl: handing the schedules to pg_cron (Debian's postgresql-15-cron, 1.4.x,
# minute granularity) and back.
#
#  (1) schedule_with_pg_cron() creates one pg_cron job per schedule, named
#      infra_<schedule>, with the same cron and the command
#      SELECT infra.run_schedule('<schedule>'), and disables the built-in ones
#      (managed_by 'pg_cron', enabled false);
#  (2) pg_cron runs land in the catalog: a cron job calling infra.create_backup('manual')
#      and the infra_daily_backup job (altered to '* * * * *') both produce succeeded
#      backups, requested by pg_cron's role; cron.job_run_details shows the runs
#      succeeded; the built-in scheduler queues nothing meanwhile;
#  (3) schedule_internally() removes the infra_* pg_cron jobs and gives the schedules back
#      to the launcher (managed_by 'infra_ext', enabled, next_run set), with no catch-up
#      run for the time pg_cron had them;
#  (4) schedule_with_pg_cron() on a server without pg_cron fails with a clear error.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

# A later shared_preload_libraries line wins over new_infra_node's. pg_cron connects
# through libpq to cron.host (default localhost, but test nodes listen on a unix socket
# only), so cron.host is the node's socket directory.
my $node = new_infra_node('cron',
	conf => ["shared_preload_libraries = 'infra_ext,pg_cron'", "cron.database_name = 'postgres'"],
	start => 0);
$node->append_conf('postgresql.conf', "cron.host = '" . $node->host . "'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION infra_ext');

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

# Waits for $query to return $expected; on a timeout shows $diag_query's rows.
sub wait_ok
{
	my ($query, $expected, $seconds, $name, $diag_query) = @_;
	my $took = wait_for_value($node, 'postgres', $query, $expected, $seconds);
	ok(defined $took, $name)
	  or diag(sql($diag_query // 'SELECT * FROM infra.jobs ORDER BY id'));
	note(sprintf('%s: %.1f s', $name, $took // -1));
	return $took;
}

my $scheduler_jobs = "SELECT count(*) FROM infra.jobs WHERE requested_by = 'scheduler'";

# --- (1) schedule_with_pg_cron ----------------------------------------------------------------
sql('CREATE EXTENSION pg_cron');
like(sql("SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'"), qr/^1\.4/,
	'(1) pg_cron 1.4 is installed');
my $moved = sql("SELECT string_agg(schedule || ':' || cron_job_id, ',' ORDER BY schedule) "
	  . "FROM infra.schedule_with_pg_cron()");
my @moved = split /,/, $moved;
is(scalar(@moved), 5, '(1) schedule_with_pg_cron() returns 5 rows');
is(sql("SELECT string_agg(substr(jobname, 7) || ':' || jobid, ',' ORDER BY substr(jobname, 7)) FROM cron.job"),
	$moved, '(1) ... one per schedule, with the ids of the pg_cron jobs');
is(sql("SELECT string_agg(format('%s|%s|%s|%s|%s', jobname, schedule, command, database, active), E'\\n' ORDER BY jobname) "
		  . "FROM cron.job"),
	join("\n",
		"infra_cleanup|0 2 * * *|SELECT infra.run_schedule('cleanup')|postgres|t",
		"infra_daily_backup|0 3 * * *|SELECT infra.run_schedule('daily_backup')|postgres|t",
		"infra_monthly_backup|0 1 1 * *|SELECT infra.run_schedule('monthly_backup')|postgres|t",
		"infra_weekly_backup|0 2 * * 0|SELECT infra.run_schedule('weekly_backup')|postgres|t",
		"infra_weekly_verify|0 5 * * 0|SELECT infra.run_schedule('weekly_verify')|postgres|t"),
	'(1) cron.job: five active jobs infra_<schedule>, same crons, calling infra.run_schedule()');
is(sql("SELECT string_agg(name || '|' || managed_by || '|' || enabled, ' ' ORDER BY name) "
		  . "FROM infra.schedules WHERE action IN ('base backup', 'wal cleanup')"),
	'daily_wal_cleanup|infra_ext|false weekly_base_backup|infra_ext|false',
	'(1) disabled schedules (base backup, WAL cleanup) are not handed to pg_cron');
my $cron_user = sql("SELECT DISTINCT username FROM cron.job");
is($cron_user, 'postgres', "(1) the pg_cron jobs run as $cron_user");
is(sql("SELECT string_agg(format('%s|%s|%s|%s', name, managed_by, enabled, coalesce(next_run::text, 'NULL')), ' ' ORDER BY name) "
		  . "FROM infra.schedules WHERE action NOT IN ('base backup', 'wal cleanup')"),
	'cleanup|pg_cron|f|NULL daily_backup|pg_cron|f|NULL monthly_backup|pg_cron|f|NULL '
	  . 'weekly_backup|pg_cron|f|NULL weekly_verify|pg_cron|f|NULL',
	"(1) infra.schedules: managed_by 'pg_cron', enabled false, no next_run");
is(sql("SELECT count(*) FROM infra.audit_log WHERE action = 'schedule_to_pg_cron'"),
	'5', '(1) the hand-over is audited (schedule_to_pg_cron) for each schedule');
is(sql("SELECT infra.backup_stats()->'next_runs'"), '[]',
	'(1) backup_stats() lists no built-in next runs');

# --- (2) pg_cron runs land in the catalog -----------------------------------------------------
# Both jobs changed in the same minute, well before its end, so they fire together.
sleep_until((int(time() / 60) + 1) * 60 + 1) if time() % 60 > 45;
my $every_id = sql("SELECT cron.schedule('every_minute_backup', '* * * * *', \$\$SELECT infra.create_backup('manual')\$\$)");
like($every_id, qr/^\d+$/, '(2) a pg_cron job calling infra.create_backup(\'manual\') every minute');
my $daily_id = sql("SELECT jobid FROM cron.job WHERE jobname = 'infra_daily_backup'");
sql("SELECT cron.alter_job((SELECT jobid FROM cron.job WHERE jobname = 'infra_daily_backup'), schedule => '* * * * *')");
is(sql("SELECT schedule FROM cron.job WHERE jobname = 'infra_daily_backup'"), '* * * * *',
	'(2) infra_daily_backup altered to * * * * *');
my $set_at = time();

my $manual_query = "SELECT count(*) FROM infra.backups WHERE kind = 'manual'";
my $daily_query = "SELECT count(*) FROM infra.backups WHERE kind = 'daily'";
wait_ok($manual_query, '1', 75, '(2) a manual backup appears within 75 s (pg_cron ran the job)',
	'SELECT * FROM cron.job_run_details');
wait_ok($daily_query, '1', 15, '(2) a daily backup appears (pg_cron ran infra_daily_backup)',
	'SELECT * FROM cron.job_run_details');
note(sprintf('the pg_cron jobs fired %.1f s after they were scheduled', time() - $set_at));
# No more runs: the next ones would come a minute later.
sql("SELECT cron.unschedule('every_minute_backup')");
sql("SELECT cron.alter_job((SELECT jobid FROM cron.job WHERE jobname = 'infra_daily_backup'), schedule => '0 3 * * *')");

wait_ok("SELECT b.status || '|' || j.requested_by FROM infra.backups b JOIN infra.jobs j ON j.id = b.job_id "
	  . "WHERE b.kind = 'manual'",
	"succeeded|$cron_user", 60, "(2) the pg_cron-triggered manual backup succeeds, requested by $cron_user");
wait_ok("SELECT b.status || '|' || j.requested_by FROM infra.backups b JOIN infra.jobs j ON j.id = b.job_id "
	  . "WHERE b.kind = 'daily'",
	"succeeded|$cron_user", 60, "(2) the daily backup succeeds, requested by $cron_user (pg_cron's role)");
for my $kind ('manual', 'daily')
{
	my $path = sql("SELECT path FROM infra.backups WHERE kind = '$kind'");
	ok(-f "$path/manifest.json", "(2) the $kind backup's directory and manifest exist ($path)");
}
my $daily_job = sql("SELECT job_id FROM infra.backups WHERE kind = 'daily'");
is(sql("SELECT last_job_id = $daily_job, last_run > now() - interval '2 minutes', managed_by, enabled "
		  . "FROM infra.schedules WHERE name = 'daily_backup'"),
	't|t|pg_cron|f', '(2) daily_backup: last_run and last_job_id recorded, still managed by pg_cron');
is(sql("SELECT count(*) FROM infra.audit_log WHERE action = 'schedule_run' AND target = 'daily_backup' "
		  . "AND details->>'by' = 'pg_cron' AND (details->>'job_id')::bigint = $daily_job "
		  . "AND acting_role = '$cron_user'"),
	'1', '(2) audit_log: one schedule_run for daily_backup, by pg_cron, as its role');
# pg_cron records each run's outcome when the command has finished.
wait_ok("SELECT string_agg(CASE jobid WHEN $every_id THEN 'every_minute_backup' "
	  . "WHEN $daily_id THEN 'infra_daily_backup' ELSE jobid::text END || ':' || status, ',' ORDER BY command) "
	  . "FROM cron.job_run_details",
	'every_minute_backup:succeeded,infra_daily_backup:succeeded', 15,
	'(2) cron.job_run_details: both runs succeeded',
	'SELECT * FROM cron.job_run_details');
is(sql("SELECT string_agg(command, ' / ' ORDER BY command) FROM cron.job_run_details"),
	"SELECT infra.create_backup('manual') / SELECT infra.run_schedule('daily_backup')",
	'(2) ... and ran the expected commands, once each');
is(sql($manual_query) . '|' . sql($daily_query), '1|1', '(2) one manual and one daily backup in all');
is(sql($scheduler_jobs), '0', '(2) the built-in scheduler queued nothing while pg_cron had the schedules');

# --- (3) schedule_internally --------------------------------------------------------------------
is(sql("SELECT string_agg(schedule || ':' || cron_job_removed, ',' ORDER BY schedule) "
		  . "FROM infra.schedule_internally()"),
	'cleanup:true,daily_backup:true,monthly_backup:true,weekly_backup:true,weekly_verify:true',
	'(3) schedule_internally() returns the 5 schedules, each pg_cron job removed');
is(sql("SELECT count(*) FROM cron.job WHERE jobname LIKE 'infra\\_%'"), '0',
	'(3) cron.job has no infra_* jobs left');
is(sql("SELECT string_agg(format('%s|%s|%s|%s|%s', name, cron, managed_by, enabled, next_run > now()), ' ' ORDER BY name) "
		  . "FROM infra.schedules WHERE action NOT IN ('base backup', 'wal cleanup')"),
	'cleanup|0 2 * * *|infra_ext|t|t daily_backup|0 3 * * *|infra_ext|t|t '
	  . 'monthly_backup|0 1 1 * *|infra_ext|t|t weekly_backup|0 2 * * 0|infra_ext|t|t '
	  . 'weekly_verify|0 5 * * 0|infra_ext|t|t',
	"(3) infra.schedules: managed_by 'infra_ext', enabled, crons unchanged, next_run in the future");
is(sql("SET TimeZone = 'UTC'; SELECT next_run = (SELECT CASE WHEN t > now() THEN t ELSE t + interval '1 day' END "
		  . "FROM (SELECT date_trunc('day', now()) + interval '3 hours' AS t) x) "
		  . "FROM infra.schedules WHERE name = 'daily_backup'"),
	't', '(3) daily_backup next_run is the next 03:00 UTC');
is(sql("SELECT count(*) FROM infra.audit_log WHERE action = 'schedule_from_pg_cron' "
		  . "AND details->>'cron_job_removed' = 'true'"),
	'5', '(3) the hand-back is audited (schedule_from_pg_cron) for each schedule');
usleep(7_000_000);    # more than one idle launcher cycle (5 s)
is(sql($scheduler_jobs), '0',
	'(3) the launcher does not catch up runs from the time pg_cron had the schedules');
is(sql("SELECT count(*) FROM infra.jobs WHERE state <> 'succeeded'"), '0', 'no job failed in this test')
  or diag(sql("SELECT id, kind, state, error FROM infra.jobs WHERE state <> 'succeeded'"));
$node->stop;

# --- (4) no pg_cron ------------------------------------------------------------------------------
my $plain = new_infra_node('plain', create_extension => 1);
my ($rc, $out, $err) = $plain->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT * FROM infra.schedule_with_pg_cron()");
isnt($rc, 0, '(4) schedule_with_pg_cron() without pg_cron fails');
like($err, qr/ERROR:  IX004: pg_cron is not installed in this database/,
	"(4) ... with 'pg_cron is not installed in this database'");
like($err, qr/HINT:  Add pg_cron to shared_preload_libraries, set cron\.database_name to this database, restart, and CREATE EXTENSION pg_cron\./,
	'(4) ... and a hint saying how to install it');
is($plain->safe_psql('postgres',
		"SELECT count(*) FROM infra.schedules WHERE managed_by = 'infra_ext' AND enabled AND next_run IS NOT NULL"),
	'5', '(4) the schedules stay with the built-in scheduler');
is($plain->safe_psql('postgres', "SELECT count(*) FROM infra.audit_log WHERE action = 'schedule_to_pg_cron'"),
	'0', '(4) nothing was audited');
$plain->stop;

done_testing();
