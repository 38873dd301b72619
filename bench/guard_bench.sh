#!/usr/bin/env bash
# guard_bench.sh: the request guard's benchmark (issue: guard throughput targets).
# Starts its own PostgreSQL 15 cluster with infra_ext preloaded and runs, interleaved in
# each round so that machine noise hits every case alike (pgbench -M prepared -c 8 -j 2
# over the unix socket):
#   select1   SELECT 1;                                             (the ceiling)
#   fscan     the same query shape around a trivial C function (infra.canonical_network):
#             what PostgreSQL's FunctionScan costs before check_request does anything
#   check     infra.check_request on 10,000 addresses               (target >= 0.85 x select1)
#   tlist     the same call in the select list: SELECT (infra.check_request(...)).allowed
#   sql       the same limiter in plain SQL (upsert, synchronous_commit=off)
#                                                                   (check >= 2.5 x sql)
#   flood     check_request on 1,000,000 addresses, 100k-entry table (>= 0.8 x check)
#   ranges    check with 10,000 blocked ranges loaded               (>= 0.8 x check)
# Usage: bench/guard_bench.sh [seconds per run, default 30] [rounds, default 3]
# Run as root after scripts/build.sh; writes bench/results/guard-<time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
rounds=${2:-3}
bin=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/infra_bench.XXXXXX)
port=5498
chown postgres: "$dir"
pg() { runuser -u postgres -- "$@"; }
psql_q() { pg "$bin/psql" -h "$dir" -p $port -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

pg "$bin/initdb" -D "$dir/data" -A trust >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'infra_ext'
infra.database = 'postgres'
shared_buffers = 256MB
max_connections = 50
CONF
pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
trap 'pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$dir"' EXIT

psql_q <<'SQL'
CREATE EXTENSION infra_ext;
-- The plain-SQL limiter: a table keyed by address, one upsert per request.
CREATE TABLE sql_limiter (ip inet PRIMARY KEY, n integer NOT NULL, window_start timestamptz NOT NULL);
CREATE FUNCTION sql_check(client inet) RETURNS boolean LANGUAGE sql AS $$
    INSERT INTO sql_limiter AS l (ip, n, window_start) VALUES (client, 1, now())
    ON CONFLICT (ip) DO UPDATE
       SET n = CASE WHEN l.window_start < now() - interval '1 minute' THEN 1 ELSE l.n + 1 END,
           window_start = CASE WHEN l.window_start < now() - interval '1 minute' THEN now() ELSE l.window_start END
    RETURNING n <= 100;
$$;
-- 10,000 blocked ranges of mixed prefix lengths, none covering 10.1.0.0/16.
CREATE TABLE bench_ranges AS
SELECT DISTINCT set_masklen(('172.16.0.0'::inet + (g * 4096))::cidr, 20 + (g % 9))::cidr AS network
  FROM generate_series(0, 11000) g;
SQL

echo 'SELECT 1;' > "$dir/select1.sql"
printf '%s\n' '\set n random(1, 10000)' "SELECT allowed FROM infra.check_request('10.1.0.0'::inet + :n);" > "$dir/check.sql"
printf '%s\n' '\set n random(1, 10000)' "SELECT x FROM infra.canonical_network(('10.1.0.0'::inet + :n)::cidr) x;" > "$dir/fscan.sql"
printf '%s\n' '\set n random(1, 10000)' "SELECT sql_check('10.1.0.0'::inet + :n);" > "$dir/sql.sql"
printf '%s\n' '\set n random(1, 1000000)' "SELECT allowed FROM infra.check_request('10.0.0.0'::inet + :n);" > "$dir/flood.sql"
cp "$dir/check.sql" "$dir/ranges.sql"
printf '%s\n' '\set n random(1, 10000)' "SELECT (infra.check_request('10.1.0.0'::inet + :n)).allowed;" > "$dir/tlist.sql"
chown postgres: "$dir"/*.sql

load_ranges() {
    psql_q -c "INSERT INTO infra.blocked_ips (network, reason, expires_at)
               SELECT network, 'bench', now() + interval '1 day' FROM bench_ranges LIMIT 10000"
    psql_q -c "SELECT count(*) FROM infra.blocked_ips" -t | grep -q 10000
}
unload_ranges() { psql_q -c "TRUNCATE infra.blocked_ips"; }

run() {  # case -> tps
    local extra=()
    [ "$1" = sql ] && extra=(env PGOPTIONS='-c synchronous_commit=off')
    pg "${extra[@]}" "$bin/pgbench" -h "$dir" -p $port -n -M prepared -c 8 -j 2 -T "$seconds" \
        -f "$dir/$1.sql" postgres 2>/dev/null | awk '/^tps/ {print $3}'
}

mkdir -p bench/results
out=bench/results/guard-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo "# guard benchmark $(date -u +%FT%TZ), pgbench -M prepared -c 8 -j 2 -T $seconds, $rounds rounds"
    echo "# $(nproc) cores; $(uname -r); $($bin/postgres --version)"
    echo "round select1 fscan check sql flood ranges tlist"
} | tee "$out"
for r in $(seq 1 "$rounds"); do
    s=$(run select1); x=$(run fscan); c=$(run check); q=$(run sql); f=$(run flood)
    load_ranges; g=$(run ranges); unload_ranges
    t=$(run tlist)
    echo "$r $s $x $c $q $f $g $t" | tee -a "$out"
done
psql_q -At -c "SELECT 'evictions during the run: ' || (infra.ddos_stats()->>'evictions')" | tee -a "$out"

awk 'NR > 3 && NF == 8 {
        a[NR] = $4 / $2; b[NR] = $4 / $5; c[NR] = $6 / $4; d[NR] = $7 / $4; e[NR] = $3 / $2
        t[NR] = $8 / $2
     }
     function median(arr,   k, i, j, t, v) {
        k = 0; for (i in arr) v[++k] = arr[i]
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        return k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
     }
     function range(arr,   i, lo, hi) { lo = 1e9; hi = 0; for (i in arr) { if (arr[i] < lo) lo = arr[i]; if (arr[i] > hi) hi = arr[i] } return sprintf("%.2f-%.2f", lo, hi) }
     END {
        printf "fscan / select1   median %.2f (range %s)  (cost of the query shape alone)\n", median(e), range(e)
        printf "check / select1   median %.2f (range %s)  target >= 0.85\n", median(a), range(a)
        printf "check / plain SQL median %.2f (range %s)  target >= 2.5\n", median(b), range(b)
        printf "flood / check     median %.2f (range %s)  target >= 0.8\n", median(c), range(c)
        printf "ranges / check    median %.2f (range %s)  target >= 0.8\n", median(d), range(d)
        printf "tlist / select1   median %.2f (range %s)  (check_request in the select list)\n", median(t), range(t)
     }' "$out" | tee -a "$out"
