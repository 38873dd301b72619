#!/usr/bin/env bash
# test.sh: the README's second command and what .ci/run calls. Installs what is
# missing, builds, and runs every test layer against real PostgreSQL 15 servers:
#   0. the C++ sources are formatted as .clang-format says
#   1. GoogleTest unit tests of src/core (ctest)
#   2. pg_regress against a temporary server with infra_ext preloaded
#   3. TAP tests (PostgreSQL::Test::Cluster): restarts, crashes, the launcher
# PostgreSQL refuses to run as root, so layers 2 and 3 run as user postgres on a copy
# of the tree in a temporary directory. The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
[ "$(id -u)" = 0 ] || { echo "test.sh: run as root (it installs packages and runs tests as postgres)"; exit 1; }

./scripts/install-deps.sh || exit 1
./scripts/build.sh || { echo "0 passed, 1 failed (build)"; exit 1; }

passed=0
failed=0
logdir=$(mktemp -d /tmp/infra_ext_test_logs.XXXXXX)
chmod 755 "$logdir"

echo "== format (clang-format) =="
if ./scripts/check-format.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "== unit tests (GoogleTest) =="
(cd build && ctest --output-on-failure 2>&1) | tee "$logdir/unit.log"
unit_total=$(grep -oE 'tests failed out of [0-9]+' "$logdir/unit.log" | grep -oE '[0-9]+$' || echo 0)
unit_failed=$(grep -oE '[0-9]+ tests failed out of' "$logdir/unit.log" | grep -oE '^[0-9]+' || echo 0)
[ "$unit_total" -gt 0 ] || unit_failed=1
passed=$((passed + unit_total - unit_failed))
failed=$((failed + unit_failed))

work=$(mktemp -d /tmp/infra_ext_test.XXXXXX)
cp -a Makefile infra_ext.control sql expected test src web "$work"/
chown -R postgres: "$work"
chmod 755 "$work"
as_postgres() { runuser -u postgres -- "$@"; }

# A small file system for the disk-full test (test/t/008_backup_failures.pl): tmpfs
# needs root to mount, so it is prepared here and handed over by path.
small_fs=$(mktemp -d /tmp/infra_ext_small_fs.XXXXXX)
if mount -t tmpfs -o size=8m,mode=0700 tmpfs "$small_fs"; then
    chown postgres: "$small_fs"
    export INFRA_TEST_SMALL_FS="$small_fs"
fi
cleanup_small_fs() { umount "$small_fs" 2>/dev/null; rmdir "$small_fs" 2>/dev/null; }
trap cleanup_small_fs EXIT

echo "== pg_regress =="
as_postgres make -C "$work" -s installcheck TAP_TESTS= PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config 2>&1 \
    | tee "$logdir/regress.log"
if grep -qE 'All [0-9]+ tests passed' "$logdir/regress.log"; then
    passed=$((passed + $(grep -oE 'All [0-9]+ tests' "$logdir/regress.log" | grep -oE '[0-9]+')))
else
    line=$(grep -oE '[0-9]+ of [0-9]+ tests failed' "$logdir/regress.log" | head -1)
    if [ -n "$line" ]; then
        f=$(echo "$line" | awk '{print $1}'); t=$(echo "$line" | awk '{print $3}')
        failed=$((failed + f)); passed=$((passed + t - f))
    else
        failed=$((failed + 1))
    fi
    [ -f "$work/regression.diffs" ] && cat "$work/regression.diffs"
fi

echo "== TAP =="
as_postgres make -C "$work" -s installcheck REGRESS= PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config 2>&1 \
    | tee "$logdir/tap.log"
tap_total=$(grep -oE 'Tests=[0-9]+' "$logdir/tap.log" | grep -oE '[0-9]+' || echo 0)
tap_failed=$(grep -oE 'Failed [0-9]+/[0-9]+ subtests' "$logdir/tap.log" | awk -F'[ /]' '{s+=$2} END {print s+0}')
dubious=$(grep -cE 'Dubious|Parse errors|No subtests run' "$logdir/tap.log" || true)
if ! grep -q 'Result: PASS' "$logdir/tap.log"; then
    [ "$tap_failed" -gt 0 ] || tap_failed=1
    for f in "$work"/tmp_check/log/regress_log_*; do
        [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }
    done
fi
failed=$((failed + tap_failed + dubious))
passed=$((passed + tap_total - tap_failed))

rm -rf "$work"
echo "logs: $logdir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
