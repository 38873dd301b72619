#!/usr/bin/env bash
# wal_archive_bench.sh: WAL archive throughput, archive size and keeping up (issue 4).
# Starts its own cluster (infra_ext preloaded, max_wal_size = 1GB so that checkpoints and
# full-page writes happen as in production, wal_keep_size large so nothing is recycled)
# and builds a backlog with archiving switched off: pgbench -i -s 50, then
# pgbench -M prepared -c 4 -j 2 -T SECONDS with synchronous_commit = off. Then, in each
# round, for each archiver (order rotated every round), it times the drain of the whole
# backlog into an empty directory:
#   infra_off / infra_zstd / infra_lz4  archive_library = 'infra_ext', infra.wal_compression
#                                       (zstd at infra.wal_zstd_level's default, 3: the
#                                       level pgBackRest uses for zst by default)
#   infra_zstd1                         the same with infra.wal_zstd_level = 1
#   basic                               archive_library = 'basic_archive' (contrib)
#   seed_cp                             archive_command = 'test ! -f DIR/%f && cp %p DIR/%f'
#   durable_cp                          cp to a temporary name, sync it, mv, sync the directory
#   pgbackrest                          pgbackrest archive-push, compress-type = zst (level 3,
#                                       its default), its own repository
# One drain: switch the archiver and wait until the archiver process runs with it (a
# change of archive_library restarts the archiver, and the postmaster starts it at most
# once per 10 s: not waiting for it was what scattered the first figures); write and
# read the backlog (the VM evicts page-cache pages left unused for a while), write and
# delete a file as large as the backlog (+1 GiB) in /dev/shm so that the page-cache
# memory the drain writes into is not memory the VM handed back to its host (see
# ../shared/notes/benchmarking-here.md); mark every backlog segment .ready again; wake
# the archiver with a reload; the drain time is pg_stat_archiver.last_archived_time
# minus that moment. Every drain is checked: archived_count grew by exactly the backlog,
# failed_count did not grow.
# Then the keep-up test: infra_ext with zstd archiving live under pgbench -M prepared
# -c 4 -j 2 -T KEEPUP_SECONDS (default 60), the .ready count sampled every 5 s.
# Reports segments per second (median and range over rounds), the median of the
# per-round ratios to basic_archive, archive sizes (also infra zstd / pgBackRest zst),
# the CPU time per segment of the archiver (with its archive_command children) and of
# the whole machine (kernel writeback included), and the keep-up samples.
# Usage: bench/wal_archive_bench.sh [pgbench seconds, default 120] [rounds, default 5]
#        (environment: PORT, default 5498; KEEPUP_SECONDS, default 60; METHODS, a
#        space-separated subset of the archivers above, default all)
# Run as root after scripts/build.sh (needs pgbackrest: apt-get install -y pgbackrest);
# writes bench/results/wal-archive-<time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
rounds=${2:-5}
port=${PORT:-5498}
keepup_seconds=${KEEPUP_SECONDS:-60}
bin=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/infra_wal_bench.XXXXXX)
chown postgres: "$dir"
pg() { runuser -u postgres -- "$@"; }
psql_q() { pg "$bin/psql" -h "$dir" -p "$port" -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
results=bench/results/wal-archive-$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p bench/results
command -v pgbackrest >/dev/null || { echo "pgbackrest is not installed (apt-get install -y pgbackrest)" >&2; exit 1; }

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
wal_keep_size = 16GB
max_wal_size = 1GB
synchronous_commit = off
log_line_prefix = '%m [%p] '
# The archivers that write to a directory write through this symlink, re-pointed to an
# empty directory per drain (basic_archive's GUC cannot be set with ALTER SYSTEM before
# the library is loaded).
basic_archive.archive_directory = '$dir/current_archive'
infra.wal_archive_dir = '$dir/current_archive'
CONF
cleanup() {
    if [ -f "$dir/data/postmaster.pid" ]; then
        pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -f "/dev/shm/$(basename "$dir").warm"
    rm -rf "$dir"
}
trap cleanup EXIT
pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null

# pgBackRest: its own configuration file and repository; archive-push needs the stanza.
mkdir -p "$dir/pgbackrest"
cat > "$dir/pgbackrest.conf" <<CONF
[global]
repo1-path=$dir/pgbackrest/repo
log-path=$dir/pgbackrest/log
lock-path=$dir/pgbackrest/lock
spool-path=$dir/pgbackrest/spool
log-level-console=warn
log-level-file=off
compress-type=zst

[bench]
pg1-path=$dir/data
pg1-socket-path=$dir
pg1-port=$port
CONF
chown -R postgres: "$dir/pgbackrest" "$dir/pgbackrest.conf"
pg pgbackrest --config="$dir/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
pgbr_wal_dirs() { find "$dir/pgbackrest/repo/archive/bench" -mindepth 2 -maxdepth 2 -type d; }

echo "building a WAL backlog: pgbench -i -s 50, then -M prepared -c 4 -j 2 -T $seconds ..."
pg "$bin/pgbench" -h "$dir" -p "$port" -i -s 50 -q postgres >/dev/null 2>&1
pg "$bin/pgbench" -h "$dir" -p "$port" -M prepared -c 4 -j 2 -T "$seconds" postgres >/dev/null 2>&1
psql_q -c "SELECT pg_switch_wal()" >/dev/null
# No WAL from autovacuum during the drains (a segment completed mid-drain would be counted
# in one archiver's drain and not another's).
psql_q -c "ALTER SYSTEM SET autovacuum = off" -c "SELECT pg_reload_conf()" >/dev/null
status="$dir/data/pg_wal/archive_status"
mark() { # from to: renames every archive_status/*.from to *.to in one process
    perl -e 'my ($d, $from, $to) = @ARGV;
             for my $f (glob("$d/*.$from")) { (my $g = $f) =~ s/\.$from$/.$to/; rename($f, $g) or die "$f: $!" }' \
        "$status" "$1" "$2"
}
mark ready done
segments=$(ls "$status" | grep -c '^[0-9A-F]\{24\}\.done$' || true)
wal_bytes=$((segments * 16777216))
echo "backlog: $segments segments ($((wal_bytes / 1048576)) MiB)"

archiver_pid() { psql_q -c "SELECT coalesce((SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'), 0)"; }
set_archiver() { # method archive_dir: configures it and waits until the archiver runs with it
    local method=$1 a=$2
    local lib="" cmd="" comp=off level=DEFAULT
    case $method in
        infra_off) lib=infra_ext; comp=off ;;
        infra_zstd) lib=infra_ext; comp=zstd ;;
        infra_zstd1) lib=infra_ext; comp=zstd; level=1 ;;
        infra_lz4) lib=infra_ext; comp=lz4 ;;
        basic) lib=basic_archive ;;
        seed_cp) cmd="test ! -f $a/%f && cp %p $a/%f" ;;
        durable_cp) cmd="test ! -f $a/%f && cp %p $a/%f.tmp && sync $a/%f.tmp && mv $a/%f.tmp $a/%f && sync $a" ;;
        pgbackrest) cmd="pgbackrest --config=$dir/pgbackrest.conf --stanza=bench archive-push %p" ;;
        none) ;;
    esac
    local old_lib old_pid
    old_lib=$(psql_q -c "SHOW archive_library")
    old_pid=$(archiver_pid)
    psql_q -c "ALTER SYSTEM SET archive_library = '$lib'" -c "ALTER SYSTEM SET archive_command = '$cmd'" \
        -c "ALTER SYSTEM SET infra.wal_compression = '$comp'" -c "ALTER SYSTEM SET infra.wal_zstd_level = $level" \
        -c "SELECT pg_reload_conf()" >/dev/null
    if [ "$old_lib" != "$lib" ]; then
        # The archiver exits and the postmaster restarts it, at most once per 10 s, when
        # its main loop next runs (these connections wake it).
        local p
        while p=$(archiver_pid); [ "$p" = 0 ] || [ "$p" = "$old_pid" ]; do sleep 0.5; done
    fi
    sleep 1  # the (new) archiver has read its settings and is idle: nothing is .ready
}
archive_bytes() { # method: bytes of the archived segment files
    if [ "$1" = pgbackrest ]; then
        find "$dir/pgbackrest/repo/archive/bench" -type f -name '[0-9A-F]*-*' -printf '%s\n'
    else
        find "$dir/archive_$1" -maxdepth 1 -type f -regextype posix-basic -regex '.*/[0-9A-F]\{24\}' -printf '%s\n'
    fi | awk '{s += $1} END {printf "%.0f\n", s}'
}
archive_files() {
    if [ "$1" = pgbackrest ]; then
        find "$dir/pgbackrest/repo/archive/bench" -type f -name '[0-9A-F]*-*' | wc -l
    else
        find "$dir/archive_$1" -maxdepth 1 -type f -regextype posix-basic -regex '.*/[0-9A-F]\{24\}' | wc -l
    fi
}
empty_archive() { # method
    if [ "$1" = pgbackrest ]; then
        pgbr_wal_dirs | xargs -r rm -rf
    fi
    rm -rf "$dir/archive_$1"
    mkdir -m 700 "$dir/archive_$1"
    chown postgres: "$dir/archive_$1"
    ln -sfn "$dir/archive_$1" "$dir/current_archive"
}
preread() { # the backlog, so that every drain reads it from the page cache (the VM drops
    # page-cache pages that stay unused for a while)
    find "$dir/data/pg_wal" -maxdepth 1 -type f -name '[0-9A-F]*' -exec cat {} + > /dev/null
}
warm() { # MiB: touch fresh page-cache memory just before a timed step
    sync
    head -c "$1M" /dev/zero > "/dev/shm/$(basename "$dir").warm"
    rm -f "/dev/shm/$(basename "$dir").warm"
}

declare -A rate size files archiver_cpu machine_cpu
ticks=$(getconf CLK_TCK)
process_cpu_ticks() { # pid: user + system CPU ticks of that process and its waited-for
    # children (an archive_command's shell and programs)
    awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"
}
system_busy_ticks() { # every CPU's non-idle ticks (the archiver, kernel writeback, the rest)
    awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat
}
drain() { # method [record]: one timed drain of the whole backlog
    local m=$1 record=${2:-yes}
    empty_archive "$m"
    set_archiver "$m" "$dir/current_archive"
    local before failed_before
    read -r before failed_before < <(psql_q -F ' ' -c "SELECT archived_count, failed_count FROM pg_stat_archiver")
    preread
    warm $((segments * 16 + 1024))
    local apid cpu0 sys0
    apid=$(archiver_pid)
    cpu0=$(process_cpu_ticks "$apid")
    sys0=$(system_busy_ticks)
    mark done ready
    local t0 t_end after failed_after r
    t0=$(date +%s.%N)
    psql_q -c "SELECT pg_reload_conf()" >/dev/null
    while compgen -G "$status/*.ready" >/dev/null; do sleep 0.1; done
    # The archiver renames .ready to .done just before it counts the file in
    # pg_stat_archiver: wait for the count (and so the last file's time) too.
    local tries=0
    while :; do
        read -r after failed_after t_end < <(psql_q -F ' ' -c \
            "SELECT archived_count, failed_count, extract(epoch FROM last_archived_time) FROM pg_stat_archiver")
        [ $((after - before)) -ge "$segments" ] || [ $tries -ge 50 ] && break
        tries=$((tries + 1))
        sleep 0.1
    done
    if [ $((after - before)) != "$segments" ] || [ "$failed_after" != "$failed_before" ]; then
        echo "drain $m: archived $((after - before)) of $segments segments, $((failed_after - failed_before)) failures" >&2
        exit 1
    fi
    r=$(echo "scale=2; $segments / ($t_end - $t0)" | bc)
    local cpu_ms sys_ms
    cpu_ms=$(echo "scale=2; ($(process_cpu_ticks "$apid") - $cpu0) * 1000 / $ticks / $segments" | bc)
    sys_ms=$(echo "scale=2; ($(system_busy_ticks) - $sys0) * 1000 / $ticks / $segments" | bc)
    if [ "$record" = yes ]; then
        archiver_cpu[$m]="${archiver_cpu[$m]:-} $cpu_ms"
        machine_cpu[$m]="${machine_cpu[$m]:-} $sys_ms"
        rate[$m]="${rate[$m]:-} $r"
        size[$m]=$(archive_bytes "$m")
        files[$m]=$(archive_files "$m")
    fi
    empty_archive "$m"  # frees the disk space now; the next warm() covers the memory
    echo "$r segments/s (archiver CPU $cpu_ms ms/segment, whole machine $sys_ms)"
}

read -r -a methods <<< "${METHODS:-infra_off infra_zstd infra_zstd1 infra_lz4 basic seed_cp durable_cp pgbackrest}"
echo -n "warm-up drain (not recorded): "
drain infra_off no
for round in $(seq 1 "$rounds"); do
    shift_by=$(((round - 1) % ${#methods[@]}))
    order=("${methods[@]:$shift_by}" "${methods[@]:0:$shift_by}")
    for m in "${order[@]}"; do
        echo -n "round $round $m: "
        drain "$m"
    done
done

if [ "$keepup_seconds" != 0 ]; then
# Keep-up: infra_ext with zstd archiving live under the pgbench load.
echo "keep-up: infra_ext zstd archiving live under pgbench -M prepared -c 4 -j 2 -T $keepup_seconds ..."
empty_archive infra_zstd
psql_q -c "ALTER SYSTEM RESET autovacuum" -c "SELECT pg_reload_conf()" >/dev/null
set_archiver infra_zstd "$dir/current_archive"
keepup_level=$(psql_q -c "SHOW infra.wal_zstd_level")
ready_sql="SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"
lsn0=$(psql_q -c "SELECT pg_current_wal_lsn()")
archived0=$(psql_q -c "SELECT archived_count FROM pg_stat_archiver")
pg "$bin/pgbench" -h "$dir" -p "$port" -M prepared -c 4 -j 2 -T "$keepup_seconds" postgres > "$dir/keepup.out" 2>&1 &
bench_pid=$!
samples=""
while kill -0 "$bench_pid" 2>/dev/null; do
    sleep 5
    samples="$samples $(psql_q -c "$ready_sql")"
done
wait "$bench_pid"
final_ready=$(psql_q -c "$ready_sql")
wal_mib=$(psql_q -c "SELECT round(pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0') / 1048576)")
t_done=$(date +%s.%N)
while [ "$(psql_q -c "$ready_sql")" != 0 ]; do sleep 0.2; done
catch_up=$(echo "scale=1; ($(date +%s.%N) - $t_done) / 1" | bc)
archived_keepup=$(($(psql_q -c "SELECT archived_count FROM pg_stat_archiver") - archived0))
keepup_tps=$(grep -o 'tps = [0-9.]*' "$dir/keepup.out" | head -1)
max_ready=$(echo "$samples $final_ready" | tr ' ' '\n' | grep -v '^$' | sort -n | tail -1)

fi

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
range() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%s-%s", lo, hi}'; }
per_round_ratios() { # method: rate / basic rate, round by round
    local -a a b
    read -r -a a <<< "${rate[$1]}"
    read -r -a b <<< "${rate[basic]}"
    for k in "${!a[@]}"; do echo "scale=3; ${a[$k]} / ${b[$k]}" | bc; done | tr '\n' ' '
}
{
    echo "WAL archive benchmark $(date -u +%FT%TZ): backlog $segments segments ($((wal_bytes / 1048576)) MiB) from pgbench -i -s 50 + -M prepared -c 4 -j 2 -T $seconds (synchronous_commit = off, max_wal_size = 1GB), $rounds rounds"
    printf '%-11s %12s %-13s %-22s %s\n' archiver "median seg/s" "range" "x basic (per round)" "archive size"
    for m in "${methods[@]}"; do
        ratios=$(per_round_ratios "$m")
        printf '%-11s %12s %-13s %-22s %s\n' "$m" "$(echo "${rate[$m]}" | median)" "$(echo "${rate[$m]}" | range)" \
            "$(echo "$ratios" | median) ($(echo "$ratios" | range))" \
            "WAL / $(echo "scale=2; ${files[$m]} * 16777216 / ${size[$m]}" | bc) (${size[$m]} bytes, ${files[$m]} files)"
    done
    for m in "${methods[@]}"; do echo "  $m all rounds:${rate[$m]}"; done
    for m in "${methods[@]}"; do
        echo "  $m CPU ms per segment: archiver $(echo "${archiver_cpu[$m]}" | median) ($(echo "${archiver_cpu[$m]}" | range)), whole machine $(echo "${machine_cpu[$m]}" | median) ($(echo "${machine_cpu[$m]}" | range))"
    done
    for m in infra_zstd infra_zstd1; do
        [ -n "${size[$m]:-}" ] && [ -n "${size[pgbackrest]:-}" ] || continue
        echo "$m archive / pgBackRest zst archive (same $segments segments): $(echo "scale=3; ${size[$m]} / ${size[pgbackrest]}" | bc) (${size[$m]} / ${size[pgbackrest]} bytes)   target <= 1"
    done
    [ "$keepup_seconds" = 0 ] || echo "keep-up (infra_ext zstd level $keepup_level live, pgbench -M prepared -c 4 -j 2 -T $keepup_seconds, $keepup_tps): ${wal_mib} MiB of WAL ($(echo "scale=2; $wal_mib / 16 / $keepup_seconds" | bc) segments/s), $archived_keepup files archived"
    [ "$keepup_seconds" = 0 ] || echo "  .ready every 5 s:$samples; at the end of pgbench: $final_ready; max $max_ready; backlog gone ${catch_up} s after pgbench ended"
} | tee "$results"
echo "written: $results"
