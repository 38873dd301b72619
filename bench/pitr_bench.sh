#!/usr/bin/env bash
# pitr_bench.sh: base backups and recovery time (issue 4). Starts its own cluster
# (infra_ext preloaded and archiving: archive_library = 'infra_ext', zstd by default),
# loads pgbench -i -s 50, and times, interleaved round by round (order rotated):
#   Base backups (each into an empty directory):
#     bb_plain       bare pg_basebackup -X stream -c fast --manifest-checksums=CRC32C -Fp
#     infra_plain    SELECT infra.create_base_backup(wait => true), format plain: the same
#                    pg_basebackup in a job worker, then pg_verifybackup, catalogue
#                                                      (target <= 1.15 x bb_plain)
#     bb_tarzstd     bare pg_basebackup ... -Ft --compress=client-zstd
#     bb_tarzstd_w1  the same with --compress=client-zstd:workers=1 (what the job runs)
#     infra_tarzstd  create_base_backup, format tar, compression zstd: pg_basebackup
#                    with client-zstd:workers=1 (same level and format, compressing in
#                    a thread of its own), the tar check reading the growing file in
#                    another                                        (<= 1.15 x bb_tarzstd)
#     pgbackrest     pgbackrest backup --type=full, compress-type=zst, process-max=2,
#                    start-fast, archive-check=n (its WAL is pushed separately below)
#                                                      (infra faster than pgbackrest)
#   For the infra cases the job's result also gives the pg_basebackup part alone.
#   Recovery time (RTO): one plain infra base backup and one pgBackRest full backup, then
#   pgbench -M prepared -c 4 -j 2 -T SECONDS (synchronous_commit = off); the target
#   time is taken just after pgbench ends, and one more transaction is committed after it
#   (recovery must see a commit past its target). The WAL reaches three places: the
#   infra_ext archive (live archiving), a plain copy of the segments from pg_wal, and
#   pgBackRest's repository (pgbackrest archive-push of each segment of that copy).
#   The source server is then stopped and each round times, from the command's start
#   until the restored server on port RESTORE_PORT answers pg_is_in_recovery() = false:
#     infra      infra_ext_ctl restore ... --start (copies the backup, archive-get)
#     manual     cp -a of the same base backup, recovery.signal, restore_command = 'cp
#                PLAIN_COPY/%f "%p"', recovery_target_time, promote; pg_ctl -w start
#                                                      (target infra <= 1.1 x manual)
#     pgbackrest pgbackrest restore --type=time --target=T --target-action=promote,
#                then pg_ctl -w start                  (infra faster than pgbackrest)
#   Every restored server is checked: pgbench_history has the row count the source had
#   at the target time, and the transaction after the target is absent.
# Before each timed step its sources are read (the database, or the base backup, archive,
# WAL copy and pgBackRest repository: the VM evicts page-cache pages left unused for a
# while), and a file as large as what the step writes (+1 GiB) is written to /dev/shm and
# deleted (fresh page-cache memory is otherwise slow at random on these VMs:
# ../shared/notes/benchmarking-here.md).
# Usage: bench/pitr_bench.sh [rounds, default 5] [pgbench seconds after the base backup,
#        default 60]   (environment: PORT, default 5499; RESTORE_PORT, default 5497;
#        PARTS=backup or PARTS=rto runs one part only; WAL_COMPRESSION=off|lz4 archives
#        with that infra.wal_compression instead of the default zstd)
# Run as root after scripts/build.sh (needs pgbackrest: apt-get install -y pgbackrest);
# writes bench/results/pitr-<time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
seconds=${2:-60}
port=${PORT:-5499}
rport=${RESTORE_PORT:-5497}
parts=${PARTS:-backup,rto}
wal_compression=${WAL_COMPRESSION:-zstd}
bin=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/infra_pitr_bench.XXXXXX)
chown postgres: "$dir"
pg() { runuser -u postgres -- "$@"; }
psql_q() { pg "$bin/psql" -h "$dir" -p "$port" -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
psql_r() { pg "$bin/psql" -h "$dir" -p "$rport" -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
pgbr() { pg pgbackrest --config="$dir/pgbackrest.conf" --stanza=bench "$@"; }
results=bench/results/pitr-$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p bench/results
command -v pgbackrest >/dev/null || { echo "pgbackrest is not installed (apt-get install -y pgbackrest)" >&2; exit 1; }

pg "$bin/initdb" -D "$dir/data" -A trust >/dev/null
pg mkdir -m 700 "$dir/wal_archive" "$dir/base_backups" "$dir/pgbackrest"
cat >> "$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'infra_ext'
infra.database = 'postgres'
shared_buffers = 512MB
wal_level = replica
max_wal_senders = 10
archive_mode = on
archive_library = 'infra_ext'
infra.wal_archive_dir = '$dir/wal_archive'
infra.wal_compression = '$wal_compression'
infra.base_backup_dir = '$dir/base_backups'
# Old base backups are removed by this script between rounds, outside the timings.
infra.base_backup_retention = 1000
wal_keep_size = 16GB
max_wal_size = 1GB
synchronous_commit = off
log_line_prefix = '%m [%p] '
CONF
restored_pid() { head -1 "$dir/restored/postmaster.pid" 2>/dev/null || true; }
stop_restored() {
    if [ -f "$dir/restored/postmaster.pid" ]; then
        pg "$bin/pg_ctl" -D "$dir/restored" -m immediate stop >/dev/null 2>&1 || true
    fi
}
cleanup() {
    stop_restored
    if [ -f "$dir/data/postmaster.pid" ]; then
        pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -f "/dev/shm/$(basename "$dir").warm"
    rm -rf "$dir"
}
trap cleanup EXIT
pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null

cat > "$dir/pgbackrest.conf" <<CONF
[global]
repo1-path=$dir/pgbackrest/repo
repo1-retention-full=1000
log-path=$dir/pgbackrest/log
lock-path=$dir/pgbackrest/lock
spool-path=$dir/pgbackrest/spool
log-level-console=warn
log-level-file=off
compress-type=zst
process-max=2
start-fast=y
archive-check=n

[bench]
pg1-path=$dir/data
pg1-socket-path=$dir
pg1-port=$port
CONF
chown postgres: "$dir/pgbackrest.conf"
pgbr stanza-create >/dev/null

echo "loading pgbench -i -s 50 ..."
psql_q -c "CREATE EXTENSION infra_ext"
pg "$bin/pgbench" -h "$dir" -p "$port" -i -s 50 -q postgres >/dev/null 2>&1
psql_q -c "VACUUM ANALYZE" -c "CHECKPOINT"
db_bytes=$(psql_q -c "SELECT sum(pg_database_size(oid)) FROM pg_database")
db_mib=$((db_bytes / 1048576))

preread() { # paths: read them, so that a timed step reads its sources from the page cache
    # (the VM evicts page-cache pages left unused for a while)
    find "$@" -type f -exec cat {} + > /dev/null
}
warm() { # MiB: touch fresh page-cache memory just before a timed step
    sync
    head -c "$1M" /dev/zero > "/dev/shm/$(basename "$dir").warm"
    rm -f "/dev/shm/$(basename "$dir").warm"
}
now() { date +%s.%N; }
declare -A times
record() { times[$1]="${times[$1]:-} $2"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
range() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.2f-%.2f", lo, hi}'; }
ratios() { # a b: per-round a/b
    local -a x y
    read -r -a x <<< "${times[$1]}"
    read -r -a y <<< "${times[$2]}"
    for k in "${!x[@]}"; do echo "scale=3; ${x[$k]} / ${y[$k]}" | bc; done | tr '\n' ' '
}
ratio_line() { # a b target
    local r
    r=$(ratios "$1" "$2")
    printf '%-32s median %s  range %s  (median of per-round ratios; all: %s)  target %s\n' \
        "$1 / $2" "$(echo "$r" | median)" "$(echo "$r" | range)" "$r" "$3"
}
time_line() { # name
    printf '%-20s median %6.2f s  range %s s  all:%s\n' "$1" "$(echo "${times[$1]}" | median)" \
        "$(echo "${times[$1]}" | range)" "${times[$1]}"
}

# ---- base backups ----
infra_format() { # format compression
    psql_q -c "ALTER SYSTEM SET infra.base_backup_format = '$1'" \
        -c "ALTER SYSTEM SET infra.base_backup_compression = '$2'" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
}
bare_backup() { # case, pg_basebackup options...
    local name=$1
    shift
    rm -rf "$dir/bare"
    pg mkdir -m 700 "$dir/bare"
    preread "$dir/data"
    warm $((db_mib + 1024))
    local t0
    t0=$(now)
    pg "$bin/pg_basebackup" -h "$dir" -p "$port" -D "$dir/bare/data" -X stream -c fast \
        --manifest-checksums=CRC32C "$@"
    record "$name" "$(echo "$(now) - $t0" | bc)"
}
infra_backup() { # case format compression
    local name=$1 id t0
    infra_format "$2" "$3"
    preread "$dir/data"
    warm $((db_mib + 1024))
    t0=$(now)
    id=$(psql_q -c "SELECT infra.create_base_backup(wait => true)")
    record "$name" "$(echo "$(now) - $t0" | bc)"
    # The pg_basebackup part alone (the job's result), and the job from start to end.
    local parts
    parts=$(psql_q -F ' ' -c "SELECT extract(epoch FROM (j.result->'info'->>'stop_time')::timestamptz
                                              - (j.result->'info'->>'start_time')::timestamptz),
                                      extract(epoch FROM j.finished_at - j.started_at)
                               FROM infra.base_backups b JOIN infra.jobs j ON j.id = b.job_id
                               WHERE b.id = $id")
    record "${name}_pgbb" "${parts% *}"
    record "${name}_job" "${parts#* }"
    bytes[$name]=$(psql_q -c "SELECT bytes FROM infra.base_backups WHERE id = $id")
}
pgbr_backup() {
    preread "$dir/data"
    warm $((db_mib + 1024))
    local t0
    t0=$(now)
    pgbr --type=full backup
    record pgbackrest "$(echo "$(now) - $t0" | bc)"
}
forget_base_backups() { # removes infra's and the bare copies (outside the timings)
    find "$dir/base_backups" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
    rm -rf "$dir/bare"
}

declare -A bytes
if [[ $parts == *backup* ]]; then
    cases=(bb_plain infra_plain bb_tarzstd bb_tarzstd_w1 infra_tarzstd pgbackrest)
    for round in $(seq 1 "$rounds"); do
        shift_by=$(((round - 1) % ${#cases[@]}))
        order=("${cases[@]:$shift_by}" "${cases[@]:0:$shift_by}")
        for c in "${order[@]}"; do
            case $c in
                bb_plain) bare_backup bb_plain -Fp ;;
                infra_plain) infra_backup infra_plain plain none ;;
                bb_tarzstd)
                    bare_backup bb_tarzstd -Ft --compress=client-zstd
                    bytes[bb_tarzstd]=$(du -sb "$dir/bare/data" | cut -f1)
                    ;;
                bb_tarzstd_w1)
                    bare_backup bb_tarzstd_w1 -Ft --compress=client-zstd:workers=1
                    ;;
                infra_tarzstd) infra_backup infra_tarzstd tar zstd ;;
                pgbackrest) pgbr_backup ;;
            esac
            echo "round $round $c: $(echo "${times[$c]}" | awk '{print $NF}') s"
        done
        forget_base_backups
    done
    pgbr_bytes=$(pgbr info --output=json | python3 -c 'import json,sys; b=json.load(sys.stdin)[0]["backup"][-1]["info"]["repository"]; print(b["size"])')
    {
        echo "base backup benchmark $(date -u +%FT%TZ): $rounds rounds, pgbench -s 50 (cluster $db_mib MiB)"
        for c in bb_plain infra_plain infra_plain_pgbb infra_plain_job bb_tarzstd bb_tarzstd_w1 \
            infra_tarzstd infra_tarzstd_pgbb infra_tarzstd_job pgbackrest; do
            time_line "$c"
        done
        ratio_line infra_plain bb_plain "<= 1.15"
        ratio_line infra_tarzstd bb_tarzstd "<= 1.15"
        ratio_line infra_tarzstd bb_tarzstd_w1 "(like for like: bare with zstd workers=1 too)"
        ratio_line bb_tarzstd_w1 bb_tarzstd "(what zstd workers=1 alone gives)"
        ratio_line infra_tarzstd pgbackrest "< 1"
        ratio_line infra_plain pgbackrest "< 1"
        ratio_line infra_plain_pgbb bb_plain "(pg_basebackup part only)"
        ratio_line infra_tarzstd_pgbb bb_tarzstd "(pg_basebackup part only)"
        echo "sizes: infra plain ${bytes[infra_plain]} bytes, bare tar+zstd ${bytes[bb_tarzstd]}, infra tar+zstd ${bytes[infra_tarzstd]}, pgBackRest zst $pgbr_bytes"
    } | tee "$results"
fi

if [[ $parts != *rto* ]]; then echo "written: $results"; exit 0; fi

# ---- recovery time ----
echo "RTO: base backups, then pgbench -M prepared -c 4 -j 2 -T $seconds ..."
forget_base_backups
infra_format plain none
bb_id=$(psql_q -c "SELECT infra.create_base_backup(wait => true)")
bb_path=$(psql_q -c "SELECT path FROM infra.base_backups WHERE id = $bb_id")
first_wal=$(psql_q -c "SELECT pg_walfile_name(start_lsn) FROM infra.base_backups WHERE id = $bb_id")
pgbr --type=full backup
pg "$bin/pgbench" -h "$dir" -p "$port" -M prepared -c 4 -j 2 -T "$seconds" postgres > "$dir/pgbench.out" 2>&1
sleep 1
target=$(psql_q -c "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
expected_rows=$(psql_q -c "SELECT count(*) FROM pgbench_history")
sleep 1
psql_q -c "CREATE TABLE after_target AS SELECT 1 AS x" >/dev/null
last_wal=$(psql_q -c "SELECT pg_walfile_name(pg_switch_wal())")
while [ "$(psql_q -c "SELECT coalesce(last_archived_wal, '') >= '$last_wal' FROM pg_stat_archiver")" != t ]; do
    sleep 0.5
done
# The plain copy: every segment from the base backup's first to the last one switched.
pg mkdir -m 700 "$dir/plain_wal"
for f in "$dir/data/pg_wal"/[0-9A-F]*; do
    name=$(basename "$f")
    if [[ ${#name} == 24 && ! $name < $first_wal && ! $name > $last_wal ]]; then
        pg cp "$f" "$dir/plain_wal/$name"
    fi
done
wal_segments=$(ls "$dir/plain_wal" | wc -l)
echo "target $target+00; $wal_segments WAL segments ($first_wal .. $last_wal); pushing them to pgBackRest ..."
for f in "$dir/plain_wal"/*; do pgbr archive-push "$f"; done
pg "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null
archive_bytes=$(du -sb "$dir/wal_archive" | cut -f1)
bb_bytes=$(du -sb "$bb_path/data" | cut -f1)
rto_warm=$(((bb_bytes + wal_segments * 16777216) / 1048576 + 1024))

wait_promoted() { # until the restored server answers pg_is_in_recovery() = false
    local deadline=$(($(date +%s) + 1800))
    until [ "$(psql_r -c "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ]; do
        if [ ! -f "$dir/restored/postmaster.pid" ] || [ "$(date +%s)" -gt $deadline ]; then
            echo "the restored server did not promote; its log:" >&2
            tail -20 "$dir/restored.log" "$dir/restored/infra_ext_restore.log" 2>/dev/null >&2 || true
            exit 1
        fi
        sleep 0.1
    done
}
check_restored() { # name: the state at the target time, nothing after it
    local rows after
    rows=$(psql_r -c "SELECT count(*) FROM pgbench_history")
    after=$(psql_r -c "SELECT to_regclass('after_target') IS NULL")
    if [ "$rows" != "$expected_rows" ] || [ "$after" != t ]; then
        echo "$1: restored $rows pgbench_history rows (expected $expected_rows), after_target absent: $after" >&2
        exit 1
    fi
}
restore_settings() { # appended to the restored postgresql.auto.conf by the manual and pgbackrest cases
    printf "port = %s\narchive_mode = off\n" "$rport" >> "$dir/restored/postgresql.auto.conf"
}
rto_infra() {
    local t0 line t_copy="" t_start=""
    t0=$(now)
    while IFS= read -r line; do
        case $line in
            "restoring base backup"*) t_copy=$(now) ;;
            "starting the server"*) t_start=$(now) ;;
        esac
    done < <(pg "$bin/infra_ext_ctl" restore --archive "$dir/wal_archive" --base-backups "$dir/base_backups" \
        --base-backup "$bb_id" --pgdata "$dir/restored" --target-time "$target+00" --port "$rport" \
        --archive-mode off --start 2>&1 | tee "$dir/ctl.out")
    if [ -z "$t_start" ]; then
        echo "infra_ext_ctl restore did not start the server:" >&2
        cat "$dir/ctl.out" >&2
        exit 1
    fi
    wait_promoted
    local t1
    t1=$(now)
    record infra "$(echo "$t1 - $t0" | bc)"
    record infra_plan "$(echo "$t_copy - $t0" | bc)"
    record infra_copy "$(echo "$t_start - $t_copy" | bc)"
    record infra_recovery "$(echo "$t1 - $t_start" | bc)"
}
rto_manual() {
    local t0 t_start t1
    t0=$(now)
    pg cp -a "$bb_path/data" "$dir/restored"
    pg touch "$dir/restored/recovery.signal"
    cat >> "$dir/restored/postgresql.auto.conf" <<CONF
restore_command = 'cp $dir/plain_wal/%f "%p"'
recovery_target_time = '$target+00'
recovery_target_action = 'promote'
CONF
    restore_settings
    t_start=$(now)
    pg "$bin/pg_ctl" -D "$dir/restored" -l "$dir/restored.log" -w -t 3600 start >/dev/null
    wait_promoted
    t1=$(now)
    record manual "$(echo "$t1 - $t0" | bc)"
    record manual_copy "$(echo "$t_start - $t0" | bc)"
    record manual_recovery "$(echo "$t1 - $t_start" | bc)"
}
rto_pgbackrest() {
    local t0 t_start t1
    pg mkdir -m 700 "$dir/restored"
    t0=$(now)
    pgbr --pg1-path="$dir/restored" --type=time --target="$target+00" --target-action=promote restore
    restore_settings
    t_start=$(now)
    pg "$bin/pg_ctl" -D "$dir/restored" -l "$dir/restored.log" -w -t 3600 start >/dev/null
    wait_promoted
    t1=$(now)
    record pgbackrest_rto "$(echo "$t1 - $t0" | bc)"
    record pgbackrest_copy "$(echo "$t_start - $t0" | bc)"
    record pgbackrest_recovery "$(echo "$t1 - $t_start" | bc)"
}
rto_cases=(infra manual pgbackrest)
for round in $(seq 1 "$rounds"); do
    shift_by=$(((round - 1) % ${#rto_cases[@]}))
    order=("${rto_cases[@]:$shift_by}" "${rto_cases[@]:0:$shift_by}")
    for c in "${order[@]}"; do
        rm -rf "$dir/restored" "$dir/restored.log"
        preread "$bb_path" "$dir/wal_archive" "$dir/plain_wal" "$dir/pgbackrest/repo"
        warm "$rto_warm"
        "rto_$c"
        check_restored "$c"
        stop_restored
        key=$c
        [ "$c" = pgbackrest ] && key=pgbackrest_rto
        echo "round $round $c: $(echo "${times[$key]}" | awk '{print $NF}') s"
    done
done
rm -rf "$dir/restored"
{
    echo "recovery time $(date -u +%FT%TZ): $rounds rounds; base backup $((bb_bytes / 1048576)) MiB (plain), then pgbench -M prepared -c 4 -j 2 -T $seconds: $wal_segments WAL segments ($((wal_segments * 16)) MiB; infra $wal_compression archive $((archive_bytes / 1048576)) MiB); $(grep -o 'tps = [0-9.]*' "$dir/pgbench.out" | head -1)"
    echo "target time $target+00 (just after pgbench ended); each restored server checked: $expected_rows pgbench_history rows, nothing after the target"
    for c in infra infra_plan infra_copy infra_recovery manual manual_copy manual_recovery \
        pgbackrest_rto pgbackrest_copy pgbackrest_recovery; do
        time_line "$c"
    done
    ratio_line infra manual "<= 1.1"
    ratio_line infra pgbackrest_rto "< 1"
} | tee -a "$results"
echo "written: $results"
