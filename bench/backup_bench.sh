#!/usr/bin/env bash
# backup_bench.sh: the logical-backup benchmark (issue 3). Starts its own PostgreSQL 15
# cluster with infra_ext preloaded, loads `pgbench -i -s 50`, and in each round times,
# interleaved (the order flips every round so that drift hits every case alike):
#   dump      bare `pg_dump -Fc -f FILE bench`                          (the baseline)
#   backup    SELECT infra.create_backup('manual', wait => true): job worker, pg_dump -Fc
#             streamed through SHA-256, row counts in the same snapshot, pg_dumpall
#             --globals-only, manifest, fsync + rename        (target <= 1.25 x dump)
#   restore   bare `createdb -T template0` + `pg_restore -j 2`          (the baseline)
#   irestore  SELECT infra.restore_backup(id, 'x', wait => true): work database from
#             template0, pg_restore -j 2, ANALYZE, rename      (target <= 1.10 x restore)
# Then, on a second dataset of four large tables with realistic (incompressible) text,
# one round each of: pg_dump -Fc, infra backup custom, infra backup directory -j 2, and
# the matching restores (no target on a 2-core machine; reported for comparison).
# Before each timed step a 2 GB file is written and deleted (see the shared
# benchmarking notes: fresh page-cache memory is otherwise slow at random).
# Usage: bench/backup_bench.sh [rounds, default 3] (WIDE=0 skips the second dataset).
# Run as root after scripts/build.sh;
# writes bench/results/backup-<time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
bin=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/infra_backup_bench.XXXXXX)
port=5497
chown postgres: "$dir"
pg() { runuser -u postgres -- "$@"; }
psql_q() { pg "$bin/psql" -h "$dir" -p $port -X -q -At -v ON_ERROR_STOP=1 "$@"; }
results=bench/results/backup-$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p bench/results

pg "$bin/initdb" -D "$dir/data" -A trust >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'infra_ext'
infra.database = 'bench'
infra.backup_dir = '$dir/infra_backups'
shared_buffers = 512MB
max_worker_processes = 16
max_wal_size = 4GB
CONF
pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
trap 'pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$dir"' EXIT

echo "loading pgbench -i -s 50 ..."
pg "$bin/createdb" -h "$dir" -p $port bench
pg "$bin/pgbench" -h "$dir" -p $port -i -s 50 -q bench >/dev/null 2>&1
psql_q -d bench -c "CREATE EXTENSION infra_ext" -c "VACUUM ANALYZE"

warm() {
    dd if=/dev/zero of="$dir/warm" bs=1M count=2048 status=none
    rm -f "$dir/warm"
    sync
}
now() { date +%s.%N; }
declare -A times
record() { times[$1]="${times[$1]:-} $2"; }
timed() { # name command...
    local name=$1; shift
    warm
    local t0 t1
    t0=$(now)
    "$@" >/dev/null
    t1=$(now)
    record "$name" "$(echo "$t1 - $t0" | bc)"
}

dump_bare() { pg "$bin/pg_dump" -h "$dir" -p $port -Fc -f "$dir/bare.dump" "$1"; }
backup_infra() { psql_q -d bench -c "SELECT infra.create_backup('manual', wait => true)" > "$dir/last_id"; }
restore_bare() {
    pg "$bin/createdb" -h "$dir" -p $port -T template0 r_bare
    pg "$bin/pg_restore" -h "$dir" -p $port -j 2 -d r_bare "$dir/bare.dump"
}
restore_infra() {
    psql_q -d bench -c "SELECT infra.restore_backup($(cat "$dir/last_id"), 'r_infra', wait => true)"
}
drop_restored() {
    pg "$bin/dropdb" -h "$dir" -p $port --if-exists r_bare
    pg "$bin/dropdb" -h "$dir" -p $port --if-exists r_infra
}
forget_backups() {
    psql_q -d bench -c "SELECT infra.delete_backup(id, force => true) FROM infra.backups" >/dev/null
    rm -f "$dir/bare.dump"
}

for round in $(seq 1 "$rounds"); do
    echo "round $round/$rounds"
    if [ $((round % 2)) = 1 ]; then
        timed dump dump_bare bench
        timed backup backup_infra
        timed restore restore_bare
        timed irestore restore_infra
    else
        timed backup backup_infra
        timed dump dump_bare bench
        timed irestore restore_infra
        timed restore restore_bare
    fi
    drop_restored
    forget_backups
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
range() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.2f-%.2f", lo, hi}'; }

dataset_bytes=$(psql_q -d bench -c "SELECT pg_database_size('bench')")
{
    echo "infra_ext backup benchmark $(date -u +%FT%TZ), $rounds rounds, pgbench -s 50 ($((dataset_bytes / 1048576)) MiB)"
    for name in dump backup restore irestore; do
        echo "$name: median $(echo "${times[$name]}" | median) s  range $(echo "${times[$name]}" | range) s  all:${times[$name]}"
    done
    bm=$(echo "${times[backup]}" | median); dm=$(echo "${times[dump]}" | median)
    rm_=$(echo "${times[restore]}" | median); im=$(echo "${times[irestore]}" | median)
    echo "ratio backup/dump (median): $(echo "scale=3; $bm / $dm" | bc)   target <= 1.25"
    echo "ratio irestore/restore (median): $(echo "scale=3; $im / $rm_" | bc)   target <= 1.10"
    # Per-round ratios (each round's pair ran back to back).
    read -r -a b <<< "${times[backup]}"; read -r -a d <<< "${times[dump]}"
    read -r -a r <<< "${times[restore]}"; read -r -a i <<< "${times[irestore]}"
    for k in "${!b[@]}"; do
        echo "  round $((k + 1)): backup/dump $(echo "scale=3; ${b[$k]} / ${d[$k]}" | bc)  irestore/restore $(echo "scale=3; ${i[$k]} / ${r[$k]}" | bc)"
    done
} | tee "$results"

if [ "${WIDE:-1}" = 0 ]; then echo "written: $results"; exit 0; fi
echo "loading the wide dataset (4 tables x 1.5M rows of incompressible text) ..."
pg "$bin/createdb" -h "$dir" -p $port wide
for t in 1 2 3 4; do
    psql_q -d wide -c "CREATE TABLE big$t AS SELECT g AS id, md5(g::text || random()::text) AS a,
        md5(random()::text) || md5(random()::text) AS b, (random() * 1e6)::numeric(12,2) AS amount
        FROM generate_series(1, 1500000) g" -c "ALTER TABLE big$t ADD PRIMARY KEY (id)"
done
psql_q -d wide -c "VACUUM ANALYZE"
psql_q -d bench -c "ALTER SYSTEM SET infra.backup_databases = 'wide'" -c "SELECT pg_reload_conf()" >/dev/null
wide_bytes=$(psql_q -d bench -c "SELECT pg_database_size('wide')")
unset times; declare -A times
timed wdump dump_bare wide
timed wcustom backup_infra
timed wcustom_restore restore_infra
pg "$bin/dropdb" -h "$dir" -p $port --if-exists r_infra
psql_q -d bench -c "ALTER SYSTEM SET infra.backup_format = 'directory'" -c "ALTER SYSTEM SET infra.backup_jobs = 2" -c "SELECT pg_reload_conf()" >/dev/null
timed wdirectory backup_infra
timed wdirectory_restore restore_infra
{
    echo "wide dataset ($((wide_bytes / 1048576)) MiB), one round:"
    echo "  pg_dump -Fc ${times[wdump]} s | infra custom ${times[wcustom]} s (restore -j2 ${times[wcustom_restore]} s) | infra directory -j2 ${times[wdirectory]} s (restore -j2 ${times[wdirectory_restore]} s)"
} | tee -a "$results"
echo "written: $results"
