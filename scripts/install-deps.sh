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
