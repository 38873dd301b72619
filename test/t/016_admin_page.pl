# 016_admin_page.pl: the admin page (web/) in a real browser — Debian's chromium,
# headless, driven by test/browser/admin_page.test.mjs (playwright-core) — against a real
# infra_httpd serving the page with --static, in front of a real PostgreSQL with infra_ext
# and WAL archiving set up (so that base backups and recovery plans work).
#
# Each "ok - ..." / "not ok - ..." line of the browser test becomes one TAP test here;
# the browser test's exit code is one more. Its screenshots (a PNG per step) and
# requests.log are kept in $INFRA_ARTIFACTS_DIR/admin_page_screenshots, or else in
# tmp_check/log/admin_page_screenshots.
# Nothing is skipped: without node, chromium or test/browser/node_modules (which
# scripts/install-deps.sh installs) the test fails and says what is missing.
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Path qw(make_path);
use HTTP::Tiny;
use IPC::Run;
use Time::HiRes qw(usleep);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib $FindBin::RealBin;
use InfraTest;

my $root = abs_path("$FindBin::RealBin/../..");
my $web = "$root/web";
my $browser_tests = "$root/test/browser";
my $script = "$browser_tests/admin_page.test.mjs";
my $httpd = $ENV{INFRA_HTTPD} // '/usr/local/bin/infra_httpd';
my $chromium = $ENV{CHROMIUM} // '/usr/bin/chromium';

# ---- what the test needs ---------------------------------------------------------------
my @missing;
push @missing, "$httpd is missing: run scripts/build.sh first" unless -x $httpd;
push @missing, "$web/index.html is missing: the admin page's files must be beside test/"
  unless -f "$web/index.html";
push @missing, "$script is missing" unless -f $script;
push @missing, "node is not installed (scripts/install-deps.sh installs nodejs)"
  unless grep { -x "$_/node" } split(/:/, $ENV{PATH} // '');
push @missing, "$chromium is missing (scripts/install-deps.sh installs chromium)"
  unless -x $chromium;
push @missing,
  "$browser_tests/node_modules/playwright-core is missing: run npm ci --prefix test/browser "
  . "(scripts/install-deps.sh does)"
  unless -d "$browser_tests/node_modules/playwright-core";
if (@missing)
{
	fail("prerequisite: $_") for @missing;
	done_testing();
	exit 1;
}

# ---- a server with WAL archiving -------------------------------------------------------
my $node = new_infra_node('admin_page', start => 0);
my $base = $node->basedir;
mkdir "$base/wal_archive" or die "mkdir $base/wal_archive: $!";
# archive_timeout = 2s: commits after a recovery target reach the archive quickly, so
# that a plan made through the page can be complete.
$node->append_conf('postgresql.conf', join('', map { "$_\n" }
	  "wal_level = replica", "archive_mode = on", "archive_library = 'infra_ext'",
	  "infra.wal_archive_dir = '$base/wal_archive'", "infra.wal_compression = zstd",
	  "infra.base_backup_dir = '$base/base_backups'", "infra.backup_dir = '$base/backups'",
	  "max_wal_senders = 10", "infra.wal_monitor_interval = 5", "archive_timeout = '2s'"));
$node->start;
sub sql { $node->safe_psql('postgres', @_) }
sql('CREATE EXTENSION infra_ext');
sql('CREATE ROLE infra_web LOGIN IN ROLE infra_httpd');
my %token;
$token{$_} = sql("SELECT infra.create_api_token('infra_$_', 'browser $_')") for qw(viewer admin);

# ---- infra_httpd serving the page ------------------------------------------------------
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $url = "http://127.0.0.1:$port";
my $log = "$base/infra_httpd.log";
my $conninfo = sprintf('host=%s port=%d dbname=postgres user=infra_web', $node->host, $node->port);
my $pid = fork();
die "fork: $!" unless defined $pid;
if ($pid == 0)
{
	open(STDERR, '>', $log) or die;
	exec($httpd, '--listen', "127.0.0.1:$port", '--db', $conninfo, '--static', $web)
	  or die "exec: $!";
}
my $http = HTTP::Tiny->new(timeout => 10);
my $started = 0;
for (1 .. 100)
{
	if ($http->get("$url/healthz")->{status} == 200) { $started = 1; last; }
	usleep(100_000);
}
ok($started, 'infra_httpd starts with --static web/') or BAIL_OUT(slurp_file($log));

# ---- the browser test --------------------------------------------------------------------
# (Not the node's directory: a passing test removes it.)
my $shots = ($ENV{INFRA_ARTIFACTS_DIR} // $PostgreSQL::Test::Utils::log_path)
  . '/admin_page_screenshots';
make_path($shots);
# chromium keeps crash reports and caches under HOME and the XDG directories: the
# node's directory, not the home of the user running the tests.
my $browser_home = "$base/browser_home";
make_path($browser_home);
my ($out, $err) = ('', '');
my @command = ('node', $script);
{
	local $ENV{INFRA_URL} = $url;
	local $ENV{INFRA_ADMIN_TOKEN} = $token{admin};
	local $ENV{INFRA_VIEWER_TOKEN} = $token{viewer};
	local $ENV{SCREENSHOT_DIR} = $shots;
	local $ENV{CHROMIUM} = $chromium;
	local $ENV{HOME} = $browser_home;
	local $ENV{XDG_CONFIG_HOME} = "$browser_home/.config";
	local $ENV{XDG_CACHE_HOME} = "$browser_home/.cache";
	eval { IPC::Run::run(\@command, '<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(900)) };
}
my $run_error = $@;
my $exit = $run_error ? -1 : $? >> 8;
diag("the browser test did not finish: $run_error") if $run_error;

my $checks = 0;
for my $line (split /\n/, $out)
{
	if ($line =~ /^(not ok|ok) - (.*)$/)
	{
		$checks++;
		ok($1 eq 'ok', "browser: $2");
	}
	elsif ($line =~ /^#\s*(.*)$/ || $line =~ /^(\d+ passed, \d+ failed)$/)
	{
		note($1);
	}
	else
	{
		diag("browser test output: $line");
	}
}
diag("browser test stderr:\n$err") if $err ne '';
ok($checks >= 20, "the browser test ran its checks ($checks)");
is($exit, 0, 'the browser test exits 0');
note("screenshots: $shots");

kill 'TERM', $pid;
waitpid($pid, 0);
$node->stop;
done_testing();
