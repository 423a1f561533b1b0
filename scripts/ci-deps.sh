#!/usr/bin/env bash
# Installs what the test suite needs beyond Go, on a fresh Debian 12 machine.
# Safe to run again: apt skips what is already installed.
set -euo pipefail

pkgs=(
  rpm        # real rpm tool and rpmdb for the rpm source tests
  iproute2   # network namespaces for sysctl and network-cut tests
  dpkg-dev   # dpkg-deb to build the tiny test .deb
  lintian    # make check-packages: lints the .debs
  rpmlint    # make check-packages: lints the .rpms
  systemd    # make check-packages: systemd-analyze verify / security on the units
  man-db     # make check-packages: systemd-analyze verify checks Documentation=man:
  procps     # sysctl(8): the kernel source's real-/proc test compares with sysctl -a
  aide       # make bench: AIDE is the named peer of the scan benchmarks (skipped when absent)
  prometheus-alertmanager  # e2e: a real Alertmanager receives drift alerts
  chromium   # e2e: the dashboard test drives Debian's chromium (e2e/browser)
  postgresql # the PostgreSQL store's tests: collector/store/pgtest runs private clusters with
             # /usr/lib/postgresql/15/bin (initdb, pg_ctl); no system cluster is needed
)
# Node.js and npm run playwright-core for the dashboard test. A machine
# that already has a node (e.g. a newer one from elsewhere) keeps it:
# Debian's npm package would conflict with it.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # The tests start their own clusters: do not create (and start) the
  # system's "main" cluster when postgresql is installed.
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/plumb-tests.conf
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The dashboard test's node packages, as locked (no browser download:
# they drive /usr/bin/chromium).
cd "$(dirname "$0")/../e2e/browser"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts
