# 012_wal_archive.pl: infra_ext as the archive module (archive_library = 'infra_ext').
#
#  (1) segments are archived into infra.wal_archive_dir as checked containers (magic,
#      original size), in the compression infra.wal_compression names (zstd, lz4, off),
#      and infra_ext_ctl archive-get gives back the exact bytes (exit 0), exit 1 for a
#      file the archive does not hold, exit 3 for a corrupt one;
#  (2) an unwritable archive directory makes archiving fail (counted, logged, the WAL
#      stays in pg_wal) and it catches up once fixed;
#  (3) archiving a file again with identical bytes succeeds; with different bytes it is
#      refused and the archived copy is kept;
#  (4) a crash (SIGKILL of the archiver) in the middle of a backlog leaves no file
#      under a final name that is not complete and valid, and archiving resumes;
#  (5) an archive on a full file system (the 8 MB tmpfs scripts/test.sh mounts and names
#      in INFRA_TEST_SMALL_FS; without it this file fails, it never skips), compression
#      off: the 16 MB container cannot be reserved, archiving fails with "No space left
#      on device" before writing anything (no temporary file is left, the file system is
#      as empty as before), the segment stays in pg_wal, and once the archive directory
#      has room again it is archived with exactly its bytes.
use strict;
use warnings;

use File::Copy qw(copy);
use File::Path ();
use Time::HiRes qw(usleep);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

my $node = new_infra_node('walarchive', start => 0);
my $archive = $node->basedir . '/wal_archive';
mkdir $archive or die "mkdir $archive: $!";
$node->append_conf('postgresql.conf', join('', map { "$_\n" }
	  "wal_level = replica", "archive_mode = on", "archive_library = 'infra_ext'",
	  "infra.wal_archive_dir = '$archive'", "infra.wal_compression = zstd",
	  "restart_after_crash = on", "wal_keep_size = '2GB'", "max_wal_senders = 10"));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION infra_ext');
my $pgdata = $node->data_dir;

sub pitr_ready { $node->safe_psql('postgres', "SELECT infra.pitr_config()->>'ready'") }
sub pitr_problems
{
	$node->safe_psql('postgres',
		"SELECT string_agg(p->>'setting', ',' ORDER BY p->>'setting')
		   FROM jsonb_array_elements(infra.pitr_config()->'problems') p");
}
is(pitr_ready(), 'true', 'pitr_config: ready with archive_library = infra_ext');
is(pitr_problems(), '', 'pitr_config: no problems listed');

sub archived_count { $node->safe_psql('postgres', 'SELECT archived_count FROM pg_stat_archiver') }
sub failed_count { $node->safe_psql('postgres', 'SELECT failed_count FROM pg_stat_archiver') }

# Writes some WAL and switches segment; returns the name of the segment it completed.
sub fill_and_switch
{
	my $name = $node->safe_psql('postgres',
		"CREATE TABLE IF NOT EXISTS filler (x text);
		 INSERT INTO filler SELECT repeat(md5(g::text), 20) FROM generate_series(1, 2000) g;
		 SELECT pg_walfile_name(pg_current_wal_lsn())");
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
	return $name;
}

sub wait_archived
{
	my ($name) = @_;
	return $node->poll_query_until('postgres',
		"SELECT last_archived_wal >= '$name' FROM pg_stat_archiver");
}

sub header_of
{
	my ($path) = @_;
	open(my $fh, '<', $path) or return undef;
	binmode $fh;
	read($fh, my $h, 32);
	close $fh;
	return $h;
}

sub archive_get
{
	my ($file, $dest) = @_;
	my ($stdout, $stderr);
	IPC::Run::run([ 'infra_ext_ctl', 'archive-get', '--archive', $archive, $file, $dest ],
		'>', \$stdout, '2>', \$stderr);
	return ($? >> 8, $stderr);
}

# ---- (1) archiving and archive-get ---------------------------------------------------------
my $seg = fill_and_switch();
ok(wait_archived($seg), "segment $seg archived");
my $stored = "$archive/$seg";
ok(-f $stored, 'the archive holds it under its own name');
my $h = header_of($stored);
is(substr($h, 0, 8), "IXWAL01\n", 'container magic');
is(ord(substr($h, 8, 1)), 1, 'compression byte says zstd');
is(unpack('Q<', substr($h, 16, 8)), 16 * 1024 * 1024, 'original size is one 16 MB segment');
cmp_ok(-s $stored, '<', 16 * 1024 * 1024, 'zstd stored it smaller than the segment');
is(sprintf('%o', (stat($stored))[2] & 07777), '600', 'archived file has mode 0600');

my $restored = $node->basedir . '/restored_seg';
my ($rc, $err) = archive_get($seg, $restored);
is($rc, 0, 'archive-get exits 0 for an archived segment');
if (-f "$pgdata/pg_wal/$seg")
{
	is(slurp_file($restored), slurp_file("$pgdata/pg_wal/$seg"),
		'archive-get returns the exact bytes of the segment');
}
else
{
	is(-s $restored, 16 * 1024 * 1024, 'archive-get returns a whole segment (original recycled)');
}
($rc, $err) = archive_get('0000000100000000000000FE', $node->basedir . '/nothing');
is($rc, 1, 'archive-get exits 1 for a file the archive does not hold');
like($err, qr/is not in the archive/, 'and says so');
ok(!-e $node->basedir . '/nothing', 'and writes nothing');

for my $mode ([ 'lz4', 2 ], [ 'off', 0 ])
{
	$node->safe_psql('postgres', "ALTER SYSTEM SET infra.wal_compression = '$mode->[0]'");
	$node->reload;
	usleep(300_000);
	my $s = fill_and_switch();
	ok(wait_archived($s), "segment archived with compression $mode->[0]");
	is(ord(substr(header_of("$archive/$s"), 8, 1)), $mode->[1], "compression byte says $mode->[0]");
	my ($r) = archive_get($s, $node->basedir . "/restored_$mode->[0]");
	is($r, 0, "archive-get restores the $mode->[0] container");
	is(-s $node->basedir . "/restored_$mode->[0]", 16 * 1024 * 1024, 'to a whole segment');
}
$node->safe_psql('postgres', "ALTER SYSTEM SET infra.wal_compression = 'zstd'");
$node->reload;

# A corrupt archived file: archive-get refuses it (exit 3) and writes nothing.
my $corrupt_copy = $node->basedir . '/corrupt_archive';
mkdir $corrupt_copy;
copy($stored, "$corrupt_copy/$seg") or die "copy: $!";
open(my $fh, '+<', "$corrupt_copy/$seg") or die;
binmode $fh;
seek($fh, 200, 0);
print $fh "\xff\xfe\xfd";
close $fh;
{
	my ($stdout, $stderr);
	IPC::Run::run([ 'infra_ext_ctl', 'archive-get', '--archive', $corrupt_copy, $seg,
		$node->basedir . '/from_corrupt' ], '>', \$stdout, '2>', \$stderr);
	is($? >> 8, 3, 'archive-get exits 3 for a corrupt archived file');
	like($stderr, qr/corrupt|CRC|zstd|decompress/i, 'and names the problem');
	ok(!-e $node->basedir . '/from_corrupt', 'and writes no destination file');
}

# ---- (1b) read-ahead: archive-get --prefetch -----------------------------------------------
# Three consecutive archived segments s1 s2 s3 (16 MB segments: the low 8 digits count to FF).
sub next_segment
{
	my ($name) = @_;
	my ($tl, $log, $s) = map { hex } unpack('A8 A8 A8', $name);
	($log, $s) = $s == 0xFF ? ($log + 1, 0) : ($log, $s + 1);
	return sprintf('%08X%08X%08X', $tl, $log, $s);
}
fill_and_switch() for 1 .. 3;
ok(wait_archived(fill_and_switch()), 'more segments archived for the read-ahead');
my ($s1) = grep { -f "$archive/" . next_segment($_) && -f "$archive/" . next_segment(next_segment($_)) }
	sort grep { /^[0-9A-F]{24}$/ } map { s{.*/}{}r } glob("$archive/*");
ok(defined $s1, 'the archive holds three consecutive segments');
my $s2 = next_segment($s1);
my $s3 = next_segment($s2);
my $rag = $node->basedir . '/readahead/pg_wal';
File::Path::make_path($rag);
my $spool = "$rag/.infra_ext_prefetch";
sub archive_get_ahead
{
	my ($file, $depth) = @_;
	my ($stdout, $stderr);
	IPC::Run::run([ 'infra_ext_ctl', 'archive-get', '--archive', $archive, '--prefetch',
		$depth // '2', $file, "$rag/RECOVERYXLOG" ], '>', \$stdout, '2>', \$stderr);
	return ($? >> 8, $stderr);
}
sub plain_copy    # the segment decoded without read-ahead, for comparison
{
	my ($file) = @_;
	my $to = $node->basedir . "/plain_$file";
	my ($r) = archive_get($file, $to);
	die "archive-get $file failed" if $r != 0;
	return slurp_file($to);
}
sub spool_idle    # waits until no prefetcher holds the spool's lock
{
	for (1 .. 200)
	{
		open(my $lock, '<', "$spool/lock") or return 1;
		if (flock($lock, 6))    # LOCK_EX | LOCK_NB
		{
			close $lock;
			return 1;
		}
		close $lock;
		usleep(50_000);
	}
	return 0;
}
($rc, $err) = archive_get_ahead($s1);
is($rc, 0, 'archive-get --prefetch 2 restores the segment asked for');
is(slurp_file("$rag/RECOVERYXLOG"), plain_copy($s1), '... with the same bytes as without read-ahead');
ok(spool_idle(), '... and its background prefetcher finishes');
ok(-f "$spool/$s2" && -f "$spool/$s3", '... having decoded the next two segments into the spool');
is(slurp_file("$spool/last"), "$s1\n", '... which records the newest segment asked for');
($rc, $err) = archive_get_ahead($s2);
is($rc, 0, 'the next segment is handed over from the spool');
ok(!-e "$spool/$s2", '... which no longer holds it');
is(slurp_file("$rag/RECOVERYXLOG"), plain_copy($s2), '... with the exact bytes of the segment');
ok(spool_idle(), 'the prefetcher started for the next window finishes');
# A spooled segment torn (same size, a flipped byte) is not handed over: decoded again.
open($fh, '+<', "$spool/$s3") or die "open $spool/$s3: $!";
binmode $fh;
seek($fh, 8 * 1024 * 1024, 0);
print $fh "\x01\x02\x03";
close $fh;
($rc, $err) = archive_get_ahead($s3);
is($rc, 0, 'a torn spooled segment does not fail the restore');
is(slurp_file("$rag/RECOVERYXLOG"), plain_copy($s3), '... the correct bytes are restored instead');
ok(spool_idle(), '... and the prefetcher finishes');
($rc, $err) = archive_get_ahead('0000000100000000000000FE');
is($rc, 1, 'a segment the archive does not hold: exit 1 with read-ahead too');
ok(!-e $spool, '... and the spool is removed (recovery stops asking there)');
for my $bad ('0', '65', 'x')
{
	($rc, $err) = archive_get_ahead($s1, $bad);
	if ($bad eq '0')
	{
		is($rc, 0, '--prefetch 0 switches read-ahead off');
		ok(!-e $spool, '... and makes no spool');
	}
	else
	{
		is($rc, 2, "--prefetch $bad is a usage error");
		like($err, qr/--prefetch/, '... naming the option');
	}
}

# ---- (2) unwritable archive directory, then catching up ------------------------------------
my $failed_before = failed_count();
my $log_offset = -s $node->logfile;
chmod 0500, $archive or die;
my $blocked = fill_and_switch();
ok($node->poll_query_until('postgres', "SELECT failed_count > $failed_before FROM pg_stat_archiver"),
	'archiving into an unwritable directory fails (counted)');
ok(wait_for_log_line($node, qr/infra_ext could not archive "\Q$blocked\E": .*Permission denied/,
		$log_offset, 30), 'the failure is logged with its reason');
ok(-f "$pgdata/pg_wal/$blocked", 'the segment stays in pg_wal');
is(pitr_problems(), 'archiver', 'pitr_config names the failing archiver');
is(pitr_ready(), 'false', 'and is not ready while archiving fails');
ok(-f "$pgdata/pg_wal/archive_status/$blocked.ready", 'still marked .ready');
ok(!-e "$archive/$blocked", 'nothing under its name in the archive');
chmod 0700, $archive or die;
ok(wait_archived($blocked), 'once the directory is writable again, archiving catches up');
ok(-f "$archive/$blocked", 'the held-back segment is in the archive');
is(pitr_ready(), 'true', 'pitr_config is ready again once archiving works');

# ---- (3) identical and different re-archiving ---------------------------------------------
# Make the archiver see an already archived segment again by marking it .ready.
my $again = fill_and_switch();
ok(wait_archived($again), "segment $again archived");
if (-f "$pgdata/pg_wal/$again")
{
	$log_offset = -s $node->logfile;
	rename("$pgdata/pg_wal/archive_status/$again.done", "$pgdata/pg_wal/archive_status/$again.ready");
	fill_and_switch();    # a new segment wakes the archiver, which rescans archive_status
	ok(wait_for_log_line($node, qr/"\Q$again\E" was already archived with identical contents/,
			$log_offset, 60), 'archiving identical bytes again succeeds');
	ok(_wait_file("$pgdata/pg_wal/archive_status/$again.done", 30), 'and the file is marked done');
}
else
{
	fail("segment $again was recycled before the re-archive test");
}

my $victim = fill_and_switch();
ok(wait_archived($victim), "segment $victim archived");
my $original_bytes = slurp_file("$archive/$victim");
if (-f "$pgdata/pg_wal/$victim")
{
	# Put a different (valid) container under its name, then ask for it again.
	copy("$archive/$seg", "$archive/$victim") or die "copy: $!";
	my $different = slurp_file("$archive/$victim");
	$failed_before = failed_count();
	$log_offset = -s $node->logfile;
	rename("$pgdata/pg_wal/archive_status/$victim.done", "$pgdata/pg_wal/archive_status/$victim.ready");
	fill_and_switch();
	ok(wait_for_log_line($node, qr/could not archive "\Q$victim\E": .*already exists with different contents/,
			$log_offset, 60), 'a different file under the same name is refused');
	ok($node->poll_query_until('postgres', "SELECT failed_count > $failed_before FROM pg_stat_archiver"),
		'and counted as a failure');
	is(slurp_file("$archive/$victim"), $different, 'the archived copy is kept as it was');
	# Put the right bytes back: the archiver then succeeds.
	open(my $out, '>', "$archive/$victim") or die;
	binmode $out;
	print $out $original_bytes;
	close $out;
	ok(-f "$pgdata/pg_wal/archive_status/$victim.ready", 'the refused file stays .ready');
	ok(_wait_file("$pgdata/pg_wal/archive_status/$victim.done", 60),
		'with the right copy back, the retry succeeds');
}
else
{
	fail("segment $victim was recycled before the refusal test");
}

sub _wait_file
{
	my ($path, $seconds) = @_;
	for (1 .. $seconds * 10)
	{
		return 1 if -e $path;
		usleep(100_000);
	}
	return 0;
}

# ---- (4) crash in the middle of a backlog ------------------------------------------------
# Hold archiving back (unwritable directory), build a backlog, then let it drain and
# kill the archiver (a crash restart) while it works.
chmod 0500, $archive or die;
my @backlog = map { fill_and_switch() } 1 .. 6;
chmod 0700, $archive or die;
my $archiver_pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'");
usleep(150_000);
kill 'KILL', $archiver_pid if $archiver_pid;
$node->poll_query_until('postgres', 'SELECT 1', '1') or die 'server did not come back';
ok(wait_archived($backlog[-1]), 'after the crash the backlog is archived');
my ($bad, $checked) = (0, 0);
opendir(my $dh, $archive) or die;
for my $f (grep { /^[0-9A-F]{24}$/ } readdir $dh)
{
	$checked++;
	my ($r) = archive_get($f, $node->basedir . '/check_one');
	$bad++ if $r != 0 || -s $node->basedir . '/check_one' != 16 * 1024 * 1024;
	unlink $node->basedir . '/check_one';
}
closedir $dh;
cmp_ok($checked, '>=', 10, "$checked archived segments checked");
is($bad, 0, 'every file under a final name is a complete, valid segment');

# ---- (5) a full file system, compression off -----------------------------------------------
sub set_and_reload
{
	my (%settings) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET $_ = '$settings{$_}'") for sort keys %settings;
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
}
sub used_kb
{
	my ($dir) = @_;
	my @df = split /\s+/, (split /\n/, `df -Pk '$dir'`)[1] // '';
	return $df[2];
}
my $small_fs = $ENV{INFRA_TEST_SMALL_FS};
if (!defined $small_fs || $small_fs eq '' || !-d $small_fs || !-w $small_fs)
{
	fail('INFRA_TEST_SMALL_FS is not a small file system this user can write: run through '
		  . 'scripts/test.sh (it mounts an 8 MB tmpfs)');
}
else
{
	my $full_archive = "$small_fs/wal_archive_$$";
	mkdir $full_archive or die "mkdir $full_archive: $!";
	my $used_before = used_kb($small_fs);
	$failed_before = failed_count();
	$log_offset = -s $node->logfile;
	set_and_reload('infra.wal_archive_dir' => $full_archive, 'infra.wal_compression' => 'off');
	my $held = fill_and_switch();
	ok($node->poll_query_until('postgres',
			"SELECT failed_count > $failed_before FROM pg_stat_archiver"),
		'disk full: archiving a 16 MB segment onto an 8 MB file system fails (counted)');
	ok(wait_for_log_line($node,
			qr/infra_ext could not archive "\Q$held\E": could not reserve 16777248 bytes for \Q$full_archive\E\/\Q$held\E\.tmp\.\d+\.\d+: No space left on device/,
			$log_offset, 30),
		'... with the reason: the container could not be reserved, no space left');
	ok(-f "$pgdata/pg_wal/$held", '... the segment stays in pg_wal');
	ok(-f "$pgdata/pg_wal/archive_status/$held.ready", '... still marked .ready');
	opendir(my $fh, $full_archive) or die;
	my @left = grep { !/^\.\.?$/ } readdir $fh;
	closedir $fh;
	is(join(',', @left), '', '... nothing is left in the full archive directory');
	cmp_ok(used_kb($small_fs), '<=', $used_before + 64,
		'... and the file system is as empty as before (nothing half written)');
	my $expected = slurp_file("$pgdata/pg_wal/$held");

	set_and_reload('infra.wal_archive_dir' => $archive);
	ok(wait_archived($held), 'with room again, the held-back segment is archived');
	my ($r) = archive_get($held, $node->basedir . '/held_back');
	is($r, 0, '... archive-get restores it');
	ok(slurp_file($node->basedir . '/held_back') eq $expected,
		'... with exactly the bytes it had in pg_wal');
	is((unpack 'C', substr(header_of("$archive/$held"), 8, 1)), 0, '... stored uncompressed (off)');
	rmdir $full_archive;
}

done_testing();
