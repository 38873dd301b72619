#!/usr/bin/env bash
# build.sh: builds the core library and unit tests (CMake, in build/) and the extension
# (PGXS), then installs the extension into the system's PostgreSQL 15. Needs root for
# the install step.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
make -s -j "$jobs" PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
make -s install PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config >/dev/null
# infra_ext_ctl goes beside the server's binaries (restore_command finds it there).
install -m 0755 build/infra_ext_ctl "$(/usr/lib/postgresql/15/bin/pg_config --bindir)/infra_ext_ctl"
# infra_httpd is a service of its own, not a PostgreSQL program.
install -m 0755 build/infra_httpd /usr/local/bin/infra_httpd
