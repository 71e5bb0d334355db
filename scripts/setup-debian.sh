#!/usr/bin/env bash
# Installs what oxresty's build and tests need on a fresh Debian machine (run as root, or with
# sudo available): the reference (Debian's nginx 1.22.1 + ngx_lua 0.10.23 and the modules
# the conformance cases load) and the C libraries the build uses. Idempotent and quiet.
set -euo pipefail

packages=(
    # the reference the differential tests compare against
    nginx libnginx-mod-http-ndk libnginx-mod-http-lua lua-resty-core lua-cjson
    libnginx-mod-http-echo libnginx-mod-http-headers-more-filter libnginx-mod-http-set-misc
    libnginx-mod-stream
    # backends and clients the end-to-end tests start or drive
    redis-server dnsmasq curl openssl nghttp2-client
    # lua-resty-* libraries Debian packages, and memcached, for tests/lua_libs.rs
    lua-resty-lrucache lua-nginx-memcached lua-nginx-string lua-nginx-websocket lua-nginx-cookie memcached
    # PHP-FPM for the fastcgi_pass end-to-end test (tests/fastcgi_php.rs)
    php-fpm
    # build: PCRE2 for the pcre2 crate (it falls back to its bundled copy without it)
    libpcre2-dev pkg-config
)

sudo=""
if [ "$(id -u)" != 0 ]; then sudo=sudo; fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # Debian's nginx package starts a server on port 80 when installed: not wanted here.
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    $sudo rm -f /usr/sbin/policy-rc.d
fi

if ! command -v cargo >/dev/null; then
    echo "setup-debian: no Rust toolchain: install one with rustup (https://rustup.rs)" >&2
    exit 1
fi
