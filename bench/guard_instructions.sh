#!/usr/bin/env bash
# guard_instructions.sh: where the time of one check goes, in instructions (callgrind
# counts instructions, so the figures do not move with machine noise).
# Runs a single-user backend under valgrind with N prepared EXECUTEs of each statement,
# twice (N = 500 and 2500), and prints the per-execution difference.
# Run as root after scripts/build.sh (needs valgrind). Takes ~3 minutes.
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/infra_cg.XXXXXX)
chown postgres: "$dir"
trap 'rm -rf "$dir"' EXIT
pg() { runuser -u postgres -- "$@"; }
pg "$bin/initdb" -D "$dir/data" -A trust >/dev/null
pg "$bin/pg_ctl" -D "$dir/data" -o "-c shared_preload_libraries=infra_ext -c listen_addresses='' -k $dir" -w start >/dev/null
pg "$bin/psql" -h "$dir" -Xq -d postgres -c "CREATE EXTENSION infra_ext"
pg "$bin/pg_ctl" -D "$dir/data" -w stop >/dev/null

statement() {
    case $1 in
        select1) echo "SELECT 1" ;;
        expr) echo "SELECT '10.1.0.0'::inet + \$1" ;;
        fscan) echo "SELECT x FROM infra.canonical_network(('10.1.0.0'::inet + \$1)::cidr) x" ;;
        check) echo "SELECT allowed FROM infra.check_request('10.1.0.0'::inet + \$1)" ;;
        tlist) echo "SELECT (infra.check_request('10.1.0.0'::inet + \$1)).allowed" ;;
    esac
}
count() {  # case n -> instructions of the whole single-user session
    {
        echo "PREPARE q(int) AS $(statement "$1");"
        for i in $(seq 1 "$2"); do echo "EXECUTE q($((i % 10000)));"; done
    } > "$dir/in.sql"
    pg valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$bin/postgres" --single \
        -D "$dir/data" -c shared_preload_libraries=infra_ext postgres < "$dir/in.sql" \
        > /dev/null 2> "$dir/err"
    grep -oE 'Collected : [0-9]+' "$dir/err" | grep -oE '[0-9]+'
}
printf '%-8s %12s  %s\n' case instr/exec statement
for c in select1 expr fscan check tlist; do
    small=$(count "$c" 500)
    large=$(count "$c" 2500)
    printf '%-8s %12d  %s\n' "$c" $(((large - small) / 2000)) "$(statement "$c")"
done
