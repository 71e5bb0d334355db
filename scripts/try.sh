#!/usr/bin/env bash
# Runs oxresty on a bundled example config: copies conf-examples/ok/NAME to a fresh prefix
# and starts oxresty there in the foreground (extra arguments go to oxresty, e.g. -t).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-static-site}; shift || true
prefix=$(mktemp -d /tmp/oxresty-try.XXXXXX)
cp -a "conf-examples/ok/$name/." "$prefix/"
rm -rf "$prefix/expected"
mkdir -p "$prefix/logs"
cargo build --release -q
echo "prefix: $prefix" >&2
exec target/release/oxresty -p "$prefix/" -c conf/nginx.conf -g "daemon off;" "$@"
