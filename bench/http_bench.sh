#!/usr/bin/env bash
# http_bench.sh: issue 5's benchmark. How much the HTTP layer costs on top of the
# database's own ceiling for the guard's check:
#   A  wrk -t2 -c32 -d<s>s --latency GET /api/guard/check through infra_httpd
#      (keep-alive; each request carries an X-Forwarded-For from 10.0.0.0/8 at random,
#      infra_httpd trusts 127.0.0.1, so the guard tracks many clients as in production)
#   B  pgbench -c32 -j2 -T<s> -M prepared: SELECT allowed FROM infra.check_request(<a
#      random 10.x.y.z>) straight into the database (the same concurrency)
# interleaved A B A B ... for <rounds> rounds; reports the medians, the ratio A/B
# (target >= 0.7) and wrk's p99 latency. The limits are raised so that no request is
# refused (a refusal is cheaper and would flatter both).
# Usage: bench/http_bench.sh [seconds per run, default 20] [rounds, default 3]
# Environment: INFRA_HTTPD=<binary> (default /usr/local/bin/infra_httpd);
# HTTPD_ARGS="..." extra flags for it; PERF=<file> records `perf record -g` of
# infra_httpd during the first wrk run into <file> (see `perf report -i <file>`).
# Run as root after scripts/build.sh (the extension must be installed); writes
# bench/results/http-<time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
rounds=${2:-3}
bin=/usr/lib/postgresql/15/bin
httpd=${INFRA_HTTPD:-/usr/local/bin/infra_httpd}
dir=$(mktemp -d /tmp/infra_http_bench.XXXXXX)
port=5486
http_port=8486
chown postgres: "$dir"
pg() { runuser -u postgres -- "$@"; }
results=bench/results/http-$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p bench/results
httpd_pid=

cleanup() {
    [ -n "$httpd_pid" ] && kill "$httpd_pid" 2>/dev/null || true
    pg "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

pg "$bin/initdb" -D "$dir/data" -A trust >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'infra_ext'
infra.database = 'postgres'
max_connections = 100
infra.ddos_max_requests_per_minute = 65535
infra.ddos_max_requests_per_hour = 100000000
CONF
pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
pg "$bin/psql" -h "$dir" -p $port -X -q -d postgres \
    -c "CREATE EXTENSION infra_ext" -c "CREATE ROLE infra_web LOGIN IN ROLE infra_httpd"

# shellcheck disable=SC2086 # HTTPD_ARGS is a list of flags
runuser -u postgres -- "$httpd" ${HTTPD_ARGS:-} --listen 127.0.0.1:$http_port \
    --db "host=$dir port=$port dbname=postgres user=infra_web" --trusted-proxies 127.0.0.1 \
    --db-pool 32 --max-connections 64 2>"$dir/httpd.log" &
httpd_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break; sleep 0.1; done

cat > "$dir/xff.lua" <<'LUA'
-- A random client in 10.0.0.0/8 per request.
request = function()
  local ip = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  return wrk.format("GET", "/api/guard/check", { ["X-Forwarded-For"] = ip })
end
LUA
cat > "$dir/check.sql" <<'SQL'
\set a random(0, 255)
\set b random(0, 255)
\set c random(1, 254)
SELECT allowed FROM infra.check_request(('10.' || :a || '.' || :b || '.' || :c)::inet);
SQL
chown postgres: "$dir/check.sql"

declare -a http_rps pg_tps p99s
for r in $(seq "$rounds"); do
    perf_pid=
    if [ -n "${PERF:-}" ] && [ "$r" = 1 ]; then
        perf record -g -o "$PERF" -p "$(pgrep -P "$httpd_pid" -x infra_httpd || echo "$httpd_pid")" \
            -- sleep "$seconds" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    out=$(wrk -t2 -c32 -d"${seconds}s" --latency -s "$dir/xff.lua" "http://127.0.0.1:$http_port" 2>&1)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $4}')
    http_rps+=("$rps"); p99s+=("$p99")
    [ -n "$perf_pid" ] && wait "$perf_pid"
    tps=$(pg "$bin/pgbench" -h "$dir" -p $port -n -c 32 -j 2 -T "$seconds" -M prepared \
              -f "$dir/check.sql" postgres 2>/dev/null | awk '/^tps/ {print $3; exit}')
    pg_tps+=("$tps")
    echo "round $r: infra_httpd ${rps} req/s (p99 ${p99}, non-2xx ${non2xx:-0}) | pgbench ${tps} tps"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
m_http=$(median "${http_rps[@]}")
m_pg=$(median "${pg_tps[@]}")
ratio=$(awk -v a="$m_http" -v b="$m_pg" 'BEGIN {printf "%.2f", a / b}')
{
    echo "http_bench $(date -u +%FT%TZ): ${seconds}s x ${rounds} rounds, 32 connections"
    echo "infra_httpd: $httpd ${HTTPD_ARGS:-} ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo "infra_httpd GET /api/guard/check (wrk -t2 -c32): ${http_rps[*]} req/s, median $m_http; p99 ${p99s[*]}"
    echo "pgbench SELECT allowed FROM infra.check_request (-c32 -j2 -M prepared): ${pg_tps[*]} tps, median $m_pg"
    echo "ratio infra_httpd / pgbench: $ratio (target >= 0.7)"
} | tee "$results"
