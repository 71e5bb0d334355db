#!/usr/bin/env bash
# Re-record conf-examples/*/expected from the reference nginx (Debian 1.22.1).
#
#   ./record.sh                      re-record everything (ok/, broken/, shared/)
#   ./record.sh NAME...              only these; NAME is ok/X, broken/X, X (looked up
#                                    in ok/ then broken/), shared/REL or REL
#                                    (e.g. crossplane-fixtures/simple)
#
# Env: NGINX (default /usr/sbin/nginx), TIMEOUT (seconds, default 20),
#      SHARED_DIR (default ../../shared/configs relative to this script; the
#      shared part is skipped silently when it does not exist).
#
# Each mode runs in its own fresh copy of the example (a new mktemp -d PREFIX),
# from cwd /, as:
#   nginx -p PREFIX/ -c conf/nginx.conf -e logs/error.log [args...] MODE
# and every occurrence of PREFIX in the recorded output is replaced by "$PREFIX".
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NGINX=${NGINX:-/usr/sbin/nginx}
TIMEOUT=${TIMEOUT:-20}
SHARED_DIR=${SHARED_DIR:-$HERE/../../shared/configs}
TMPBASE=${TMPDIR:-/tmp}

# make_prefix KIND SRC -> prints a fresh PREFIX populated from SRC
#   KIND=example: SRC is copied as is (it contains conf/)
#   KIND=shared:  SRC's contents are copied into PREFIX/conf/
make_prefix() {
    local kind=$1 src=$2 p
    p=$(mktemp -d "$TMPBASE/oxresty-conf.XXXXXXXXXX") || exit 2
    if [ "$kind" = shared ]; then
        mkdir -p "$p/conf"
        cp -a "$src/." "$p/conf/"
    else
        cp -a "$src/." "$p/"
    fi
    mkdir -p "$p/logs"
    printf '%s\n' "$p"
}

# scrub PREFIX < in > out : replace the literal prefix path by $PREFIX
scrub() {
    local p=$1
    # escape for use as a sed regex / replacement (the path is mktemp output)
    local re
    re=$(printf '%s' "$p" | sed 's/[][\.*^$/|]/\\&/g')
    sed "s|$re|\$PREFIX|g"
}

# record_one LABEL KIND SRC EXPECTED_DIR ARGS_FILE
record_one() {
    local label=$1 kind=$2 src=$3 exp=$4 argsf=$5
    local -a args=()
    if [ -f "$argsf" ]; then
        local line
        while IFS= read -r line || [ -n "$line" ]; do
            [ -n "$line" ] && args+=("$line")
        done < "$argsf"
    fi
    rm -rf "$exp"
    mkdir -p "$exp"
    local tag mode p rc
    local -a modeargs
    for tag in t tq T; do
        case $tag in
            t)  modeargs=(-t) ;;
            tq) modeargs=(-t -q) ;;
            T)  modeargs=(-T) ;;
        esac
        p=$(make_prefix "$kind" "$src")
        (cd / && exec timeout "$TIMEOUT" "$NGINX" -p "$p/" -c conf/nginx.conf \
            -e logs/error.log ${args[@]+"${args[@]}"} "${modeargs[@]}") \
            >"$p.out" 2>"$p.err" </dev/null
        rc=$?
        scrub "$p" <"$p.err" >"$exp/$tag.stderr"
        printf '%s\n' "$rc" >"$exp/$tag.status"
        if [ "$tag" = T ]; then
            scrub "$p" <"$p.out" >"$exp/T.stdout"
        fi
        rm -rf "$p" "$p.out" "$p.err"
    done
    local first
    first=$(head -n 1 "$exp/t.stderr")
    printf '%-58s t=%s tq=%s T=%s  %s\n' "$label" \
        "$(cat "$exp/t.status")" "$(cat "$exp/tq.status")" "$(cat "$exp/T.status")" \
        "${first:0:160}"
}

record_example() { # ok/NAME or broken/NAME
    local rel=$1 dir=$HERE/$1
    if [ ! -f "$dir/conf/nginx.conf" ]; then
        echo "$rel: no conf/nginx.conf, skipped" >&2
        return
    fi
    record_one "$rel" example "$dir" "$dir/expected" "$dir/args"
}

record_shared() { # REL under SHARED_DIR
    local rel=$1 src=$SHARED_DIR/$1
    if [ ! -f "$src/nginx.conf" ]; then
        # e.g. crossplane-fixtures/missing-semicolon has no nginx.conf
        return
    fi
    local out=$HERE/shared/$rel
    mkdir -p "$out"
    record_one "shared/$rel" shared "$src" "$out/expected" "$out/args"
}

all_shared() {
    [ -d "$SHARED_DIR" ] || return 0
    [ -f "$SHARED_DIR/h5bp-server-configs-nginx/nginx.conf" ] && echo h5bp-server-configs-nginx
    local d
    for d in "$SHARED_DIR"/crossplane-fixtures/*/; do
        [ -f "$d/nginx.conf" ] && echo "crossplane-fixtures/$(basename "$d")"
    done
}

if [ ! -x "$NGINX" ]; then
    echo "reference nginx not found: $NGINX" >&2
    exit 2
fi

if [ $# -eq 0 ]; then
    for d in "$HERE"/ok/*/ "$HERE"/broken/*/; do
        [ -d "$d" ] || continue
        record_example "$(basename "$(dirname "$d")")/$(basename "$d")"
    done
    for rel in $(all_shared); do
        record_shared "$rel"
    done
    exit 0
fi

for name in "$@"; do
    name=${name%/}
    case $name in
        ok/*|broken/*) record_example "$name" ;;
        shared/*) record_shared "${name#shared/}" ;;
        *)
            if [ -d "$HERE/ok/$name" ]; then record_example "ok/$name"
            elif [ -d "$HERE/broken/$name" ]; then record_example "broken/$name"
            elif [ -d "$SHARED_DIR/$name" ]; then record_shared "$name"
            else echo "unknown example: $name" >&2; fi ;;
    esac
done
