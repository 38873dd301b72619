#!/usr/bin/env bash
# wal_archive_bench.sh: WAL archive throughput (issue 4). Builds a backlog of WAL with
# pgbench (scale 50, -c 4 -T SECONDS, synchronous_commit = off) while archiving is
# paused, then, for each archiver in turn (order rotated every round), marks the whole
# backlog .ready again, points it at an empty directory and times the drain from
# pg_stat_archiver (the archiver is loaded with its library before the timer starts):
#   infra_off / infra_zstd / infra_lz4   archive_library = 'infra_ext', infra.wal_compression
#   basic                                archive_library = 'basic_archive' (contrib)
#   seed_cp                              archive_command = 'test ! -f DIR/%f && cp %p DIR/%f'
#   durable_cp                           cp to a temporary name, sync it, mv, sync the directory
# Reports segments per second (median of the rounds), ratios to basic_archive, and the
# archive's size relative to the WAL.
# Usage: bench/wal_archive_bench.sh [pgbench seconds, default 60] [rounds, default 3]
# Run as root after scripts/build.sh; writes bench/results/wal-archive-<time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
rounds=${2:-3}
bin=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/infra_wal_bench.XXXXXX)
port=5496
chown postgres: "$dir"
pg() { runuser -u postgres -- "$@"; }
psql_q() { pg "$bin/psql" -h "$dir" -p $port -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
results=bench/results/wal-archive-$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p bench/results

pg "$bin/initdb" -D "$dir/data" -A trust >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'infra_ext'
shared_buffers = 512MB
wal_level = replica
archive_mode = on
archive_library = ''
archive_command = ''
wal_keep_size = 8GB
max_wal_size = 8GB
synchronous_commit = off
# Every archiver writes through this symlink, re-pointed to an empty directory per run
# (basic_archive's GUC cannot be set with ALTER SYSTEM before the library is loaded).
basic_archive.archive_directory = '$dir/current_archive'
infra.wal_archive_dir = '$dir/current_archive'
CONF
pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
trap 'pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$dir"' EXIT

echo "building a WAL backlog: pgbench -i -s 50, then -c 4 -j 2 -T $seconds ..."
pg "$bin/pgbench" -h "$dir" -p $port -i -s 50 -q postgres >/dev/null 2>&1
pg "$bin/pgbench" -h "$dir" -p $port -c 4 -j 2 -T "$seconds" postgres >/dev/null 2>&1
psql_q -c "SELECT pg_switch_wal()" >/dev/null
status="$dir/data/pg_wal/archive_status"
segments=$(ls "$status" | grep -c '\.ready$' || true)
echo "backlog: $segments segments ready"

set_archiver() { # method archive_dir
    local method=$1 a=$2
    local lib="" cmd="" comp=off
    case $method in
        infra_off) lib=infra_ext; comp=off ;;
        infra_zstd) lib=infra_ext; comp=zstd ;;
        infra_lz4) lib=infra_ext; comp=lz4 ;;
        basic) lib=basic_archive ;;
        seed_cp) cmd="test ! -f $a/%f && cp %p $a/%f" ;;
        durable_cp) cmd="test ! -f $a/%f && cp %p $a/%f.tmp && sync $a/%f.tmp && mv $a/%f.tmp $a/%f && sync $a" ;;
        none) ;;
    esac
    psql_q -c "ALTER SYSTEM SET archive_library = '$lib'" -c "ALTER SYSTEM SET archive_command = '$cmd'" \
        -c "ALTER SYSTEM SET infra.wal_compression = '$comp'" -c "SELECT pg_reload_conf()" >/dev/null
}

declare -A rate size files
methods=(infra_off infra_zstd infra_lz4 basic seed_cp durable_cp)
for round in $(seq 1 "$rounds"); do
    # rotate the order each round
    order=("${methods[@]:$(( (round - 1) % ${#methods[@]} ))}" "${methods[@]:0:$(( (round - 1) % ${#methods[@]} ))}")
    for m in "${order[@]}"; do
        set_archiver none "$dir/none"
        sleep 1
        rm -rf "$dir/archive_$m"; mkdir -p "$dir/archive_$m"; chown postgres: "$dir/archive_$m"
        chmod 700 "$dir/archive_$m"
        ln -sfn "$dir/archive_$m" "$dir/current_archive"
        a="$dir/current_archive"
        dd if=/dev/zero of="$dir/warm" bs=1M count=2048 status=none; rm -f "$dir/warm"; sync
        # Load the archiver first (a library change restarts the archiver), with nothing
        # ready; then mark the backlog .ready and wake it with one small new segment.
        set_archiver "$m" "$a"
        sleep 2
        for f in "$status"/*.done; do [ -e "$f" ] && mv "$f" "${f%.done}.ready"; done
        n=$(( $(ls "$status" | grep -c '\.ready$' || true) + 1 ))  # the backlog and the nudge
        before=$(psql_q -c "SELECT archived_count FROM pg_stat_archiver")
        t0=$(date +%s.%N)
        psql_q -c "SET client_min_messages = warning" -c "CREATE TABLE IF NOT EXISTS nudge (x int)" -c "INSERT INTO nudge VALUES (1)" \
            -c "SELECT pg_switch_wal()" >/dev/null
        while [ "$(psql_q -c "SELECT archived_count FROM pg_stat_archiver")" -lt $((before + n)) ]; do
            sleep 0.05
        done
        t1=$(date +%s.%N)
        r=$(echo "scale=2; $n / ($t1 - $t0)" | bc)
        rate[$m]="${rate[$m]:-} $r"
        size[$m]=$(du -sb "$dir/archive_$m" | cut -f1)
        files[$m]=$(ls "$dir/archive_$m" | grep -c '^[0-9A-F]\{24\}$' || true)
        echo "round $round $m: $r segments/s"
    done
done
set_archiver none "$dir/none"

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
basic_median=$(echo "${rate[basic]}" | median)
{
    echo "WAL archive benchmark $(date -u +%FT%TZ): $segments segments backlog (pgbench -s 50 -c 4 -T $seconds), $rounds rounds"
    for m in "${methods[@]}"; do
        med=$(echo "${rate[$m]}" | median)
        echo "$m: median $med seg/s (all:${rate[$m]})  x basic $(echo "scale=2; $med / $basic_median" | bc)  archive size: WAL / $(echo "scale=1; ${files[$m]} * 16777216 / ${size[$m]}" | bc) (${files[$m]} segments)"
    done
} | tee "$results"
echo "written: $results"
