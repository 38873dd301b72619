# 011_directory_format.pl: infra.backup_format = 'directory' (pg_dump -Fd -j
# infra.backup_jobs) end to end: the backup's files are all in the manifest with their
# SHA-256, verification restores it, restore_backup and restore_backup_from_path (the
# dump directory's toc.dat) restore it, and a corrupted data file is caught.
use strict;
use warnings;

use Digest::SHA;
use JSON::PP;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

my $node = new_infra_node('dirformat', start => 0);
my $backup_dir = $node->basedir . '/backups';
$node->append_conf('postgresql.conf',
	"infra.backup_dir = '$backup_dir'\ninfra.backup_format = 'directory'\ninfra.backup_jobs = 2\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION infra_ext');
$node->safe_psql('postgres', q{
	CREATE TABLE a AS SELECT g AS id, md5(g::text) AS t FROM generate_series(1, 30000) g;
	CREATE TABLE b AS SELECT g AS id FROM generate_series(1, 777) g;
});

my $id = $node->safe_psql('postgres', "SELECT infra.create_backup('manual', wait => true)");
my ($status, $format, $path, $manifest_text) = split /\|/,
  $node->safe_psql('postgres',
	"SELECT status, format, path, manifest::text FROM infra.backups WHERE id = $id");
is($status, 'succeeded', 'directory-format backup succeeded');
is($format, 'directory', 'catalogued as directory format');
my $manifest = decode_json($manifest_text);
ok(-f "$path/postgres.dir/toc.dat", 'the dump is a pg_dump directory (toc.dat present)');
my @dir_files = grep { $_->{name} =~ m{^postgres\.dir/} } @{ $manifest->{files} };
cmp_ok(scalar(@dir_files), '>=', 3, 'every file of the dump directory is in the manifest');
my $mismatched = 0;
for my $f (@{ $manifest->{files} })
{
	my $sha = Digest::SHA->new(256);
	$sha->addfile("$path/$f->{name}");
	$mismatched++ if $sha->hexdigest ne $f->{sha256} || -s "$path/$f->{name}" != $f->{bytes};
}
is($mismatched, 0, 'each file matches its manifest SHA-256 and size');
my %rows = map { $_->{table} => $_->{rows} } @{ $manifest->{tables} };
is($rows{'public.a'}, 30000, 'row count of a');
is($rows{'public.b'}, 777, 'row count of b');

my $verify = decode_json($node->safe_psql('postgres', "SELECT infra.verify_backup($id)::text"));
ok($verify->{ok}, 'verification restores the directory dump and matches the row counts');
is($verify->{stage}, 'row_counts', 'verification reached the row-count stage');

$node->safe_psql('postgres', "SELECT infra.restore_backup($id, 'copy_by_id', wait => true)");
is($node->safe_psql('copy_by_id', 'SELECT (SELECT count(*) FROM a) || \'/\' || (SELECT count(*) FROM b)'),
	'30000/777', 'restore_backup restores a directory-format backup');

my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT infra.restore_backup_from_path('$path/postgres.dir', 'copy_by_dir', wait => true)");
like($err, qr/is a directory, not a regular file/,
	'restore_backup_from_path names a file, not the dump directory');
$node->safe_psql('postgres',
	"SELECT infra.restore_backup_from_path('$path/postgres.dir/toc.dat', 'copy_by_toc', wait => true)");
is($node->safe_psql('copy_by_toc', 'SELECT count(*) FROM b'), '777',
	'restore_backup_from_path accepts the dump directory\'s toc.dat');

# Corrupt the largest data file: verification reports it and restores nothing.
my ($largest) = sort { $b->{bytes} <=> $a->{bytes} } @dir_files;
my $file = "$path/$largest->{name}";
open(my $fh, '+<', $file) or die "open $file: $!";
binmode $fh;
seek($fh, int($largest->{bytes} / 2), 0);
read($fh, my $byte, 1);
seek($fh, int($largest->{bytes} / 2), 0);
print $fh chr(ord($byte) ^ 0x01);
close $fh;
$verify = decode_json($node->safe_psql('postgres', "SELECT infra.verify_backup($id)::text"));
ok(!$verify->{ok}, 'a flipped byte in a data file fails verification');
is($verify->{stage}, 'checksums', 'caught at the checksum stage');
is($verify->{corrupt_files}[0]{file}, $largest->{name}, 'the corrupted file is named');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname LIKE 'infra\\_%'"),
	'0', 'no scratch or work database is left');

done_testing();
