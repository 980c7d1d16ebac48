#!/usr/bin/env bash
# ensure-deps.sh NAME... — make sure the system programs the tests need are
# installed: each NAME missing is installed from Debian's packages when this
# runs as root with apt-get, otherwise it stops with one line saying what to
# install. `make test` and CI call it; nothing else needs installing by hand.
#
# Known names (what the tests start for real, and the Debian package):
#   redis-server  presence tests, local and e2e      redis-server
#   protoc        make verify (protocol code)        protobuf-compiler
#   ip            e2e: pods in network namespaces    iproute2
#   postgres      store tests, settlement, e2e       postgresql-15 (initdb and postgres
#                 (store/pgtest starts it)           under /usr/lib/postgresql/15/bin)
#   chromium      make test-browser, make web        chromium
#   firefox       make test-browser, make web        firefox-esr (driven over WebDriver
#                                                    BiDi: no geckodriver needed)
set -euo pipefail

# package NAME: the Debian package that provides NAME.
package() {
  case "$1" in
    redis-server) echo redis-server ;;
    protoc) echo protobuf-compiler ;;
    ip) echo iproute2 ;;
    postgres) echo postgresql-15 ;;
    chromium) echo chromium ;;
    firefox) echo firefox-esr ;;
    *) echo "ensure-deps: unknown dependency $1 (add it to hack/ensure-deps.sh)" >&2; exit 2 ;;
  esac
}

# present NAME: whether NAME is installed.
present() {
  case "$1" in
    postgres) [ -x /usr/lib/postgresql/15/bin/postgres ] && [ -x /usr/lib/postgresql/15/bin/initdb ] ;;
    firefox) command -v firefox-esr >/dev/null 2>&1 || command -v firefox >/dev/null 2>&1 ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing=()
for name in "$@"; do
  package "$name" >/dev/null
  present "$name" || missing+=("$name")
done
[ ${#missing[@]} -eq 0 ] && exit 0

pkgs=()
for name in "${missing[@]}"; do pkgs+=("$(package "$name")"); done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: ${missing[*]} — install the Debian packages first: apt-get install ${pkgs[*]}" >&2
  exit 1
fi
echo "installing ${pkgs[*]} (for ${missing[*]}) with apt-get; log in bin/ensure-deps.log"
mkdir -p bin
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${pkgs[@]}"; } >bin/ensure-deps.log 2>&1; then
  echo "could not install ${pkgs[*]}: see bin/ensure-deps.log (is the Debian mirror reachable?)" >&2
  exit 1
fi
for name in "${missing[@]}"; do
  present "$name" || { echo "installed ${pkgs[*]} but $name is still missing: see bin/ensure-deps.log" >&2; exit 1; }
done
