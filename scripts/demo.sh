#!/usr/bin/env bash
# demo.sh: the README's first command. Installs everything, builds, starts a local demo
# cluster with infra_ext preloaded and created, and infra_httpd in front of it; prints
# the admin page's URL and a fresh admin token.
#   INFRA_DEMO_DIR        where the cluster lives  (default /var/lib/infra_ext_demo)
#   INFRA_DEMO_PORT       its port                  (default 5499)
#   INFRA_DEMO_HTTP_PORT  infra_httpd's port        (default 8499)
# Run again to rebuild and restart; `scripts/demo.sh stop` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${INFRA_DEMO_DIR:-/var/lib/infra_ext_demo}
port=${INFRA_DEMO_PORT:-5499}
http_port=${INFRA_DEMO_HTTP_PORT:-8499}
web=$(pwd)/web
bin=/usr/lib/postgresql/15/bin
as_postgres() { runuser -u postgres -- "$@"; }

stop_httpd() {
    if [ -f "$dir/infra_httpd.pid" ]; then
        kill "$(cat "$dir/infra_httpd.pid")" 2>/dev/null || true
        rm -f "$dir/infra_httpd.pid"
    fi
}

if [ "${1:-}" = stop ]; then
    stop_httpd
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast stop
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it installs packages)"; exit 1; }
./scripts/install-deps.sh
./scripts/build.sh

mkdir -p "$dir"
chown postgres: "$dir"
if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_postgres "$bin/initdb" -D "$dir/data" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    cat >> "$dir/data/postgresql.conf" <<CONF
# infra_ext demo
port = $port
listen_addresses = 'localhost'
unix_socket_directories = '$dir'
shared_preload_libraries = 'infra_ext'
infra.database = 'postgres'
# point-in-time recovery: infra_ext is the archive module
wal_level = replica
archive_mode = on
archive_library = 'infra_ext'
archive_timeout = 60s
CONF
fi
if as_postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w restart -l "$dir/server.log" >/dev/null
else
    as_postgres "$bin/pg_ctl" -D "$dir/data" -w start -l "$dir/server.log" >/dev/null
fi
as_postgres "$bin/psql" -h "$dir" -p "$port" -X -q -d postgres \
    -c "CREATE EXTENSION IF NOT EXISTS infra_ext" \
    -c "ALTER EXTENSION infra_ext UPDATE" 2>&1 | grep -v "already installed" || true

# infra_httpd: its own login role (a member of infra_httpd), a fresh admin token.
as_postgres "$bin/psql" -h "$dir" -p "$port" -X -q -d postgres -c "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'infra_web') THEN
        CREATE ROLE infra_web LOGIN IN ROLE infra_httpd;
    END IF; END \$\$"
token=$(as_postgres "$bin/psql" -h "$dir" -p "$port" -X -qAt -d postgres \
    -c "SELECT infra.create_api_token('infra_admin', 'demo admin ' || now()::text, interval '7 days')")
stop_httpd
as_postgres bash -c "nohup /usr/local/bin/infra_httpd --listen 127.0.0.1:$http_port \
    --db 'host=$dir port=$port dbname=postgres user=infra_web' --static '$web' \
    >'$dir/infra_httpd.log' 2>&1 & echo \$! > '$dir/infra_httpd.pid'"
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

cat <<MSG

infra_ext demo cluster is running (PostgreSQL 15, data in $dir/data, log $dir/server.log).
Connect:
    psql -h $dir -p $port -U postgres postgres
Try:
    SELECT * FROM infra.check_request('203.0.113.7');
    SELECT infra.block_ip('198.51.100.0/24', interval '1 hour', 'scraper range');
    SELECT jsonb_pretty(infra.ddos_stats());
    SELECT infra.create_base_backup(wait => true);
    SELECT jsonb_pretty(infra.wal_archive_stats());
    SELECT infra.recovery_plan(now() - interval '1 minute')->>'script';

Admin page:  http://127.0.0.1:$http_port/admin/infrastructure/
Admin token: $token
    curl -H "Authorization: Bearer $token" http://127.0.0.1:$http_port/api/infrastructure/ddos/stats
infra_httpd log: $dir/infra_httpd.log
Stop it with: scripts/demo.sh stop
MSG
