# 006_capacity.pl: a full blocklist or allowlist refuses a new entry with a clear error
# (SQLSTATE IX003) and stores nothing, so a committed block is never left in the table
# unenforced; replacing an entry already there still works, and freeing one makes room.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_infra_node('capacity',
	conf => ['infra.ddos_max_blocks = 100', 'infra.ddos_max_allowed = 10'],
	create_extension => 1);

# One statement (one transaction) per block: capacity is checked against what is
# committed.
my $fill = join('', map {
	"SELECT infra.block_ip('10.50.0.$_', interval '1 hour', 'filling');\n"
} 1 .. 100);
my ($rc, $out, $err) = $node->psql('postgres', $fill, on_error_stop => 1);
is($rc, 0, 'the blocklist takes exactly infra.ddos_max_blocks (100) entries');
is($node->safe_psql('postgres', "SELECT infra.ddos_stats()->>'blocklist_entries'"),
	'100', 'shared memory holds all 100');

($rc, $out, $err) = $node->psql('postgres',
	"SELECT infra.block_ip('10.50.1.1', interval '1 hour', 'one too many')");
isnt($rc, 0, 'the 101st block is refused');
like($err,
	qr/ERROR:  the blocklist is full \(100 entries\); 10\.50\.1\.1\/32 was not added/,
	'the error says the blocklist is full and what was not added');
like($err, qr/HINT:  Remove entries you no longer need, or raise infra\.ddos_max_blocks/,
	'the hint says what to do');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM infra.blocked_ips WHERE network = '10.50.1.1'"),
	'0', 'nothing was stored for the refused block');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM infra.audit_log WHERE target = '10.50.1.1/32'"),
	'0', 'nothing was audited for the refused block');
($rc, $out, $err) = $node->psql('postgres', q{
	DO $$ BEGIN PERFORM infra.block_ip('10.50.1.1');
	EXCEPTION WHEN SQLSTATE 'IX003' THEN RAISE NOTICE 'sqlstate IX003'; END $$});
like($err, qr/NOTICE:  sqlstate IX003/, 'the refusal carries SQLSTATE IX003 (capacity exhausted)');

# Replacing a block that is already there needs no room.
is($node->safe_psql('postgres',
		"SELECT expires_at - created_at FROM infra.block_ip('10.50.0.7', interval '2 hours', 'longer')"),
	'02:00:00', 'a block already in the list can be replaced while the list is full');

# Freeing one entry makes room for one.
is($node->safe_psql('postgres', "SELECT infra.unblock_ip('10.50.0.1')"), 't', 'unblock one');
is($node->safe_psql('postgres',
		"SELECT network FROM infra.block_ip('10.50.1.1', interval '1 hour', 'fits now')"),
	'10.50.1.1/32', 'the freed place takes the new block');
is($node->safe_psql('postgres', "SELECT reason FROM infra.check_request('10.50.1.1')"),
	'blocked', 'and the new block is enforced');

# The allowlist has its own limit.
$fill = join('', map { "SELECT infra.allow_ip('10.60.0.$_', 'office $_');\n" } 1 .. 10);
($rc, $out, $err) = $node->psql('postgres', $fill, on_error_stop => 1);
is($rc, 0, 'the allowlist takes exactly infra.ddos_max_allowed (10) entries');
($rc, $out, $err) = $node->psql('postgres', "SELECT infra.allow_ip('10.60.0.11', 'eleventh')");
like($err, qr/ERROR:  the allowlist is full \(10 entries\); 10\.60\.0\.11\/32 was not added/,
	'the 11th allowlist entry is refused with the allowlist named');
like($err, qr/raise infra\.ddos_max_allowed/, 'its hint names the allowlist setting');
is($node->safe_psql('postgres', "SELECT count(*) FROM infra.allowed_ips"),
	'10', 'the allowlist table holds only the 10 accepted entries');

$node->stop;
done_testing();
