#!/usr/bin/env bash
# Installs the Debian packages that tests and benchmarks use (only what is missing).
set -euo pipefail
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# caddy: the reference Caddyfile adapter the config tests compare against.
command -v caddy >/dev/null 2>&1 || need+=(caddy)
# prometheus: promtool lints /metrics and a real Prometheus server scrapes it (tests/observability).
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
# chromium: the dashboard's browser tests drive it with Playwright (no browser download).
[ -x /usr/lib/chromium/chromium ] || need+=(chromium)
# pebble: the ACME test CA (and pebble-challtestsrv, its DNS) that automatic HTTPS is tested against.
command -v pebble >/dev/null 2>&1 && command -v pebble-challtestsrv >/dev/null 2>&1 || need+=(pebble)
# zlib1g-dev: the answer cache's native ring ops checksum answers with zlib's CRC-32 (make compiled).
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${need[*]} (run as root or install them)" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
