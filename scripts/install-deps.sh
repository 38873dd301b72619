#!/usr/bin/env bash
# install-deps.sh: installs the Debian 12 packages infra_ext needs to build, test and
# run. Idempotent: apt-get runs only when a package is missing. Needs root.
set -euo pipefail

packages=(
    postgresql-15 postgresql-client-15 postgresql-server-dev-15 postgresql-contrib
    postgresql-15-cron libzstd-dev liblz4-dev libarchive-dev zstd
    libcpp-httplib-dev libpq-dev pkg-config nginx-light curl
    g++ make cmake libgtest-dev nlohmann-json3-dev clang-format
    libipc-run-perl perl
)
# The admin page's browser test (test/t/016_admin_page.pl) drives Debian's chromium.
packages+=(chromium)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's postgresql package creates and starts a default cluster; infra_ext's demo
# and tests use their own clusters and ports, so that one is left alone.

# The browser test drives chromium through playwright-core, pinned in
# test/browser/package-lock.json (it downloads no browser). It needs Node.js 20 or newer,
# which Debian 12 does not ship (its nodejs is 18). Without it the other tests still run;
# 016_admin_page.pl then fails and says why.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
browser_tests="$(dirname "$0")/../test/browser"
if [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null; then
    echo "install-deps: WARNING: the browser test needs Node.js >= 20 with npm" \
         "(found: $(node --version 2>/dev/null || echo none)); test/browser is not installed" >&2
elif [ ! "$browser_tests/node_modules/.package-lock.json" -nt "$browser_tests/package-lock.json" ]; then
    echo "install-deps: npm ci --prefix test/browser"
    npm ci --prefix "$browser_tests" --no-audit --no-fund >/dev/null
fi
