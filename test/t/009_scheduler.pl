# 009_scheduler.pl: the launcher's built-in scheduler (infra.schedules).
#
#  (1) the seven seeded schedules and their first next_run (next 03:00 UTC, next Sunday
#      02:00, next 1st 01:00, ...);
#  (3) set_schedule refuses bad cron expressions and unknown schedule names with clear
#      errors (SQLSTATE IX001) and leaves the row unchanged;
#  (2)+(6) daily_backup, cleanup and weekly_verify set to '* * * * *' fire at the next
#      minute boundary: a daily backup, a cleanup job and a verify job, all requested by
#      'scheduler', all succeed; last_run/last_job_id and the audit log record the runs;
#      a disabled schedule does not fire at the next boundary while an enabled one does;
#  (4) a schedule that missed ~72 fire times while the scheduler was down runs ONCE when
#      it comes back (no pile-up), and its next_run is the next fire time;
#  (5) infra.schedule_timezone: cron times are read in that zone (03:00 New York), the
#      launcher follows the reloaded setting, an unknown zone is refused.
#
# The scheduler is "down" in (4) by running the server without infra_ext in
# shared_preload_libraries: the catalog can be edited then, with no
# launcher that could fire the edited schedule before the simulated downtime.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

my $node = new_infra_node('scheduler', create_extension => 1);

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

# Runs $query expecting an error; returns the error text (with the SQLSTATE, as
# VERBOSITY verbose prints it).
sub sql_error
{
	my ($query) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$query");
	return $rc == 0 ? "(no error; output: $out)" : $err;
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

# The next minute boundary (Unix seconds) after now.
sub next_minute
{
	return (int(time() / 60) + 1) * 60;
}

my $schedule_row = "SELECT cron, action, enabled, managed_by, created_at, last_run, last_job_id, next_run "
  . "FROM infra.schedules WHERE name = 'daily_backup'";

# --- (1) the seeded schedules ------------------------------------------------------------
is(sql("SELECT string_agg(format('%s|%s|%s|%s|%s', name, cron, action, enabled, managed_by), ' ' ORDER BY name) "
		  . "FROM infra.schedules"),
	'cleanup|0 2 * * *|cleanup|t|infra_ext '
	  . 'daily_backup|0 3 * * *|backup daily|t|infra_ext '
	  . 'daily_wal_cleanup|30 4 * * *|wal cleanup|f|infra_ext '
	  . 'monthly_backup|0 1 1 * *|backup monthly|t|infra_ext '
	  . 'weekly_backup|0 2 * * 0|backup weekly|t|infra_ext '
	  . 'weekly_base_backup|0 4 * * 0|base backup|f|infra_ext '
	  . 'weekly_verify|0 5 * * 0|verify newest|t|infra_ext',
	'(1) seven seeded schedules with their crons and actions, managed by infra_ext: the '
	  . 'five logical-backup ones enabled, base backup and WAL cleanup disabled');
is(sql("SELECT count(*) FROM infra.schedules WHERE last_run IS NULL AND last_job_id IS NULL"),
	'7', '(1) none has run yet');

# Expected next runs, computed in SQL in UTC (the default infra.schedule_timezone).
my %expected_next = (
	daily_backup => "(SELECT CASE WHEN t > now() THEN t ELSE t + interval '1 day' END "
	  . "FROM (SELECT date_trunc('day', now()) + interval '3 hours' AS t) x)",
	cleanup => "(SELECT CASE WHEN t > now() THEN t ELSE t + interval '1 day' END "
	  . "FROM (SELECT date_trunc('day', now()) + interval '2 hours' AS t) x)",
	# date_trunc('week') is a Monday; + 6 days is that week's Sunday.
	weekly_backup => "(SELECT CASE WHEN t > now() THEN t ELSE t + interval '7 days' END "
	  . "FROM (SELECT date_trunc('week', now()) + interval '6 days 2 hours' AS t) x)",
	weekly_verify => "(SELECT CASE WHEN t > now() THEN t ELSE t + interval '7 days' END "
	  . "FROM (SELECT date_trunc('week', now()) + interval '6 days 5 hours' AS t) x)",
	monthly_backup => "(SELECT CASE WHEN t > now() THEN t ELSE date_trunc('month', now()) + interval '1 month 1 hour' END "
	  . "FROM (SELECT date_trunc('month', now()) + interval '1 hour' AS t) x)");
for my $name (sort keys %expected_next)
{
	my ($actual, $expected) = split /\|/,
	  sql("SET TimeZone = 'UTC'; SELECT s.next_run || '|' || $expected_next{$name} "
		  . "FROM infra.schedules s WHERE s.name = '$name'");
	is($actual, $expected, "(1) $name: next_run is its next fire time in UTC ($expected)");
}
is(sql("SET TimeZone = 'UTC'; SELECT to_char(next_run, 'Dy HH24:MI') FROM infra.schedules WHERE name = 'weekly_backup'"),
	'Sun 02:00', '(1) weekly_backup: next_run is a Sunday 02:00');
is(sql("SET TimeZone = 'UTC'; SELECT to_char(next_run, 'DD HH24:MI') FROM infra.schedules WHERE name = 'monthly_backup'"),
	'01 01:00', '(1) monthly_backup: next_run is the 1st, 01:00');

# --- (3) bad input -----------------------------------------------------------------------
{
	my $before = sql($schedule_row);
	my $err = sql_error("SELECT infra.set_schedule('daily_backup', '61 * * * *')");
	like($err,
		qr/ERROR:  IX001: invalid cron expression "61 \* \* \* \*": minute value 61 is out of range \(allowed 0-59\)/,
		'(3) minute 61 is refused (IX001), naming the minute field and its range');
	like($err, qr/HINT:  Use values from 0 to 59 in the minute field/, '(3) ... with a hint');
	is(sql($schedule_row), $before, '(3) ... and the row is unchanged');

	$err = sql_error("SELECT infra.set_schedule('daily_backup', '0 0 30 2 *')");
	like($err, qr/ERROR:  IX001: cron expression "0 0 30 2 \*" never fires/,
		'(3) February 30th is refused: it never fires');
	is(sql($schedule_row), $before, '(3) ... and the row is unchanged');

	$err = sql_error("SELECT infra.set_schedule('daily_backup', 'a b c')");
	like($err,
		qr/ERROR:  IX001: invalid cron expression "a b c": it has 3 fields, expected 5 \(minute hour day-of-month month day-of-week\)/,
		"(3) 'a b c' is refused: three fields, five expected");
	is(sql($schedule_row), $before, '(3) ... and the row is unchanged');

	$err = sql_error("SELECT infra.set_schedule('hourly_backup', '0 * * * *')");
	like($err, qr/ERROR:  IX001: schedule 'hourly_backup' does not exist/,
		'(3) an unknown schedule name is refused');
	like($err,
		qr/HINT:  Schedules: cleanup, daily_backup, daily_wal_cleanup, monthly_backup, weekly_backup, weekly_base_backup, weekly_verify\./,
		'(3) ... listing the existing schedules');
	is(sql("SELECT count(*) FROM infra.schedules"), '7', '(3) ... and no schedule was added');
	is(sql($schedule_row), $before, '(3) daily_backup is still unchanged');
	is(sql("SELECT count(*) FROM infra.audit_log WHERE action = 'schedule_change'"),
		'0', '(3) no schedule_change was audited for the refused calls');
}

# --- (2)+(6) schedules firing at a minute boundary -----------------------------------------
# A succeeded manual backup for weekly_verify to verify, and a cancelled one for the
# scheduled cleanup to remove.
my $manual = sql("SELECT infra.create_backup('manual', true)");
is(sql("SELECT status FROM infra.backups WHERE id = $manual"), 'succeeded',
	'(6) a manual backup exists and succeeded');
# (Queued and cancelled in one transaction: the launcher never sees it queued.)
sql(q{DO $$ DECLARE b bigint := infra.create_backup('manual');
	BEGIN PERFORM infra.cancel_job((SELECT job_id FROM infra.backups WHERE id = b)); END $$});
my $cancelled = sql("SELECT max(id) FROM infra.backups WHERE kind = 'manual'");
is(sql("SELECT status FROM infra.backups WHERE id = $cancelled"), 'cancelled',
	'(6) a cancelled manual backup exists (for cleanup to remove)');

# Set all three in the same minute, well before its end, so they fire together.
my $sec = time() % 60;
sleep_until(next_minute() + 1) if $sec > 45;

my $set = sql("SELECT s.cron || '|' || s.enabled || '|' || s.managed_by || '|' "
	  . "|| (s.next_run = date_trunc('minute', now()) + interval '1 minute') || '|' || s.next_run "
	  . "FROM infra.set_schedule('daily_backup', '* * * * *') s");
my ($boundary) = $set =~ /\|([^|]+)$/;
like($set, qr/^\* \* \* \* \*\|true\|infra_ext\|true\|/,
	"(2) set_schedule('daily_backup', '* * * * *') returns the row with next_run = the next whole minute");
is(sql("SELECT (s.next_run = date_trunc('minute', now()) + interval '1 minute') "
		  . "FROM infra.set_schedule('cleanup', '* * * * *') s"),
	't', "(6) set_schedule('cleanup', '* * * * *'): next_run = the next whole minute");
is(sql("SELECT (s.next_run = date_trunc('minute', now()) + interval '1 minute') "
		  . "FROM infra.set_schedule('weekly_verify', '* * * * *') s"),
	't', "(6) set_schedule('weekly_verify', '* * * * *'): next_run = the next whole minute");
is(sql("SELECT count(*) FROM infra.audit_log WHERE action = 'schedule_change' "
		  . "AND details->>'cron' = '* * * * *' AND details->'previous'->>'cron' IS NOT NULL"),
	'3', '(2) the three changes are audited (schedule_change, with the previous cron)');
my $set_at = time();

my $daily_query = "SELECT count(*) FROM infra.backups b JOIN infra.jobs j ON j.id = b.job_id "
  . "WHERE b.kind = 'daily' AND j.requested_by = 'scheduler'";
my $verify_query = "SELECT count(*) FROM infra.jobs WHERE kind = 'verify' AND requested_by = 'scheduler'";
my $cleanup_query = "SELECT count(*) FROM infra.jobs WHERE kind = 'cleanup' AND requested_by = 'scheduler'";

# Disable daily_backup and weekly_verify as soon as they fired (their next fire is a
# minute later); cleanup stays enabled, to show the scheduler still fires at the next
# boundary.
wait_ok($daily_query, '1', 75, '(2) a daily backup requested by scheduler appears within 75 s');
my $disabled = sql("SELECT s.enabled || '|' || coalesce(s.next_run::text, 'NULL') || '|' || s.cron "
	  . "FROM infra.set_schedule('daily_backup', NULL, false) s");
my $disabled_at = sql('SELECT now()');
is($disabled, 'false|NULL|* * * * *',
	'(2) set_schedule(daily_backup, NULL, false): disabled, no next_run, cron kept');
wait_ok($verify_query, '1', 30, '(6) a verify job requested by scheduler appears');
sql("SELECT infra.set_schedule('weekly_verify', NULL, false)");
wait_ok($cleanup_query, '1', 30, '(6) a cleanup job requested by scheduler appears');
note(sprintf('the schedules fired %.1f s after set_schedule', time() - $set_at));

# The daily backup.
wait_ok("SELECT b.status FROM infra.backups b JOIN infra.jobs j ON j.id = b.job_id "
	  . "WHERE b.kind = 'daily' AND j.requested_by = 'scheduler'",
	'succeeded', 60, '(2) the scheduled daily backup succeeds');
my ($daily_id, $daily_job, $daily_path) =
  split /\|/, sql("SELECT id, job_id, path FROM infra.backups WHERE kind = 'daily'");
ok(-d $daily_path, "(2) its directory exists ($daily_path)");
ok(-f "$daily_path/manifest.json", '(2) ... with its manifest');
is(sql("SELECT last_job_id = $daily_job, "
		  . "last_run >= '$boundary'::timestamptz AND last_run < '$boundary'::timestamptz + interval '10 seconds' "
		  . "FROM infra.schedules WHERE name = 'daily_backup'"),
	't|t', "(2) schedules.last_job_id is the backup's job and last_run is just after the boundary ($boundary)");
is(sql("SELECT count(*) FROM infra.audit_log WHERE action = 'schedule_run' AND target = 'daily_backup' "
		  . "AND (details->>'job_id')::bigint = $daily_job AND (details->>'due')::timestamptz = '$boundary' "
		  . "AND details->>'action' = 'backup daily'"),
	'1', "(2) audit_log has the schedule_run row (job, due time, action)");

# The cleanup job.
wait_ok("SELECT state FROM infra.jobs WHERE kind = 'cleanup' AND requested_by = 'scheduler' ORDER BY id LIMIT 1",
	'succeeded', 60, '(6) the scheduled cleanup job succeeds');
is(sql("SELECT count(*) FROM infra.backups WHERE id = $cancelled"), '0',
	'(6) it removed the cancelled backup from the catalog');
cmp_ok(sql("SELECT (result->>'removed')::int FROM infra.jobs WHERE kind = 'cleanup' ORDER BY id LIMIT 1"),
	'>=', 1, "(6) its result counts the removal");
is(sql("SELECT status FROM infra.backups WHERE id = $manual"), 'succeeded',
	'(6) the succeeded manual backup is kept');

# The verify job: it verifies the newest succeeded backup when it fired (the manual one;
# the daily backup queued at the same moment was not finished yet).
wait_ok("SELECT state || '|' || backup_id FROM infra.jobs WHERE kind = 'verify' AND requested_by = 'scheduler'",
	"succeeded|$manual", 90, "(6) the scheduled verify job of backup $manual succeeds");
is(sql("SELECT verified_at IS NOT NULL, verify_result->>'ok' FROM infra.backups WHERE id = $manual"),
	't|true', "(6) backup $manual: verified_at set, verify_result ok");
is(sql("SELECT count(*) FROM infra.audit_log WHERE action = 'schedule_run' AND target IN ('cleanup', 'weekly_verify')"),
	'2', '(6) the cleanup and verify runs are audited as schedule_run');

# No further daily backup (or verify) at the next boundary, while cleanup fires again.
my $next = next_minute();
note('waiting for the minute boundary at ' . scalar(gmtime($next)) . ' UTC + 10 s');
sleep_until($next + 10);
is(sql($daily_query), '1', '(2) the disabled daily_backup did not fire at the next minute boundary');
is(sql($verify_query), '1', '(6) the disabled weekly_verify did not fire again');
is(sql("SELECT count(*) FROM infra.jobs WHERE kind = 'cleanup' AND requested_by = 'scheduler' "
		  . "AND created_at > '$disabled_at'"),
	'1', '(2) ... while the still enabled cleanup schedule did fire (the scheduler was running)');
is(sql("SELECT count(*) FROM infra.backups WHERE kind = 'daily'"), '1', '(2) exactly one daily backup in all');
sql("SELECT infra.set_schedule('cleanup', NULL, false)");

# --- (4) missed runs while the scheduler was down: one catch-up run --------------------------
wait_ok("SELECT count(*) FROM infra.jobs WHERE state IN ('queued', 'running')", '0', 60,
	'(4) no job is queued or running before the downtime');
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->restart;
is(sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'infra launcher'"),
	'0', '(4) without infra_ext preloaded there is no launcher (the scheduler is down)');
# Hourly, last run "never", created 3 days ago: ~72 fire times missed.
sql("UPDATE infra.schedules SET cron = '0 * * * *', created_at = now() - interval '3 days', "
	  . "last_run = NULL, enabled = true WHERE name = 'monthly_backup'");
is(sql("SELECT count(*) FROM infra.backups WHERE kind = 'monthly'"), '0',
	'(4) no monthly backup before the scheduler comes back');
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "'infra_ext'");
$node->restart;
my $restarted = sql('SELECT pg_postmaster_start_time()');

my $monthly_query = "SELECT count(*) FROM infra.backups WHERE kind = 'monthly'";
wait_ok($monthly_query, '1', 30, '(4) a monthly backup is queued once the scheduler is back');
wait_ok("SELECT string_agg(status, ',') FROM infra.backups WHERE kind = 'monthly'",
	'succeeded', 60, '(4) it succeeds');
usleep(7_000_000);    # more than one idle launcher cycle (5 s)
is(sql($monthly_query), '1', '(4) exactly ONE monthly backup, not one per missed hour');
is(sql("SELECT count(*) FROM infra.jobs WHERE requested_by = 'scheduler' AND created_at >= '$restarted'"),
	'1', '(4) exactly one scheduler job since the restart');
is(sql("SELECT count(*) FROM infra.audit_log WHERE action = 'schedule_run' AND target = 'monthly_backup'"),
	'1', '(4) one schedule_run audit row for monthly_backup');
is(sql("SELECT (a.details->>'due')::timestamptz = date_trunc('hour', s.last_run), "
		  . "(a.details->>'job_id')::bigint = s.last_job_id "
		  . "FROM infra.audit_log a, infra.schedules s "
		  . "WHERE a.action = 'schedule_run' AND a.target = 'monthly_backup' AND s.name = 'monthly_backup'"),
	't|t', '(4) the run caught up the latest missed fire time (the last full hour)');
is(sql("SELECT last_run >= '$restarted' AND last_run <= now(), last_run > now() - interval '2 minutes', "
		  . "next_run = date_trunc('hour', last_run) + interval '1 hour', "
		  . "last_job_id = (SELECT job_id FROM infra.backups WHERE kind = 'monthly') "
		  . "FROM infra.schedules WHERE name = 'monthly_backup'"),
	't|t|t|t', '(4) last_run is ~now (after the restart), next_run the next full hour, last_job_id its job');
sql("SELECT infra.set_schedule('monthly_backup', NULL, false)");

# --- (5) infra.schedule_timezone ---------------------------------------------------------------
sql("ALTER SYSTEM SET infra.schedule_timezone = 'America/New_York'");
sql('SELECT pg_reload_conf()');
ok(defined wait_for_value($node, 'postgres', 'SHOW infra.schedule_timezone', 'America/New_York', 10),
	'(5) infra.schedule_timezone is America/New_York after the reload');
{
	my $row = sql("SELECT s.enabled || '|' || s.managed_by || '|' "
		  . "|| to_char(s.next_run AT TIME ZONE 'America/New_York', 'HH24:MI') || '|' "
		  . "|| (s.next_run > now() AND s.next_run <= now() + interval '1 day') "
		  . "FROM infra.set_schedule('daily_backup', '0 3 * * *', true) s");
	is($row, 'true|infra_ext|03:00|true',
		"(5) set_schedule('daily_backup', '0 3 * * *', true): next_run is 03:00 New York time, within a day");
	my $expected_ny = "(SELECT CASE WHEN t > now() THEN t "
	  . "ELSE (date_trunc('day', now() AT TIME ZONE 'America/New_York') + interval '1 day 3 hours') AT TIME ZONE 'America/New_York' END "
	  . "FROM (SELECT (date_trunc('day', now() AT TIME ZONE 'America/New_York') + interval '3 hours') "
	  . "AT TIME ZONE 'America/New_York' AS t) x)";
	is(sql("SELECT next_run = $expected_ny FROM infra.schedules WHERE name = 'daily_backup'"),
		't', '(5) ... exactly the next 03:00 in New York');
	isnt(sql("SET TimeZone = 'UTC'; SELECT to_char(next_run, 'HH24:MI') FROM infra.schedules WHERE name = 'daily_backup'"),
		'03:00', '(5) ... which is not 03:00 UTC');
	# The launcher recomputes next_run every cycle: with the reloaded zone it must agree,
	# and it moves the other enabled schedule (weekly_backup) to New York time too.
	ok(defined wait_for_value($node, 'postgres',
			"SELECT extract(dow FROM next_run AT TIME ZONE 'America/New_York') || ' ' "
			  . "|| to_char(next_run AT TIME ZONE 'America/New_York', 'HH24:MI') "
			  . "FROM infra.schedules WHERE name = 'weekly_backup'",
			'0 02:00', 15),
		'(5) the launcher moved weekly_backup to Sunday 02:00 New York time');
	usleep(6_000_000);    # at least one more launcher cycle
	is(sql("SELECT to_char(next_run AT TIME ZONE 'America/New_York', 'HH24:MI') || '|' || (next_run = $expected_ny) "
			  . "FROM infra.schedules WHERE name = 'daily_backup'"),
		'03:00|true', '(5) the launcher keeps daily_backup at 03:00 New York time');
}
{
	my ($rc, $out, $err) = $node->psql('postgres',
		"ALTER SYSTEM SET infra.schedule_timezone = 'Mars/Olympus'");
	isnt($rc, 0, "(5) ALTER SYSTEM SET infra.schedule_timezone = 'Mars/Olympus' fails");
	like($err, qr/invalid value for parameter "infra\.schedule_timezone": "Mars\/Olympus"/,
		'(5) ... naming the parameter and the value');
	like($err, qr/DETAIL:  "Mars\/Olympus" is not a time zone PostgreSQL knows \(see pg_timezone_names\)/,
		'(5) ... saying it is not a known time zone');
	sql('SELECT pg_reload_conf()');
	is(sql('SHOW infra.schedule_timezone'), 'America/New_York', '(5) the setting is unchanged');
	unlike(slurp_file($node->data_dir . '/postgresql.auto.conf'), qr/Mars/,
		'(5) nothing was written to postgresql.auto.conf');
}

is(sql("SELECT count(*) FROM infra.jobs WHERE state = 'failed'"), '0', 'no job failed in this test')
  or diag(sql("SELECT id, kind, error FROM infra.jobs WHERE state = 'failed'"));

$node->stop;
done_testing();
