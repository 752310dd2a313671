#!/usr/bin/env bash
# Runs deploy/nginx.conf with Debian's nginx, without root and without Docker,
# in front of gateways already running on this machine (e.g. `bun run dev`).
#
#   deploy/nginx-local.sh                  # :8088 -> 127.0.0.1:8080
#   LB_PORT=9000 UPSTREAM=127.0.0.1:8181 deploy/nginx-local.sh
#
# Stops with Ctrl-C. The prefix (config, logs) is a temporary directory.
set -euo pipefail

LB_PORT="${LB_PORT:-8088}"
UPSTREAM="${UPSTREAM:-127.0.0.1:8080}"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
here="$(cd "$(dirname "$0")" && pwd)"

nofile="$(ulimit -Hn)"
[[ "$nofile" == unlimited ]] && nofile=131072

prefix="$(mktemp -d)"
trap 'rm -rf "$prefix"' EXIT
chmod 755 "$prefix"
mkdir -p "$prefix/logs" "$prefix/tmp"

# Same file, with the Docker-only parts swapped for local ones: the listen
# port, the upstream (an IP literal needs no resolver), the /tmp paths, the
# access log (a file in the prefix) and the descriptor limits (this shell's).
sed -e "s|listen 8080;|listen 127.0.0.1:${LB_PORT};|" \
    -e "s|http://gateway:8080|http://${UPSTREAM}|" \
    -e "s|/tmp/nginx|${prefix}/tmp/nginx|g" \
    -e "s|access_log /dev/stdout;|access_log ${prefix}/logs/access.log;|" \
    -e "s|^worker_rlimit_nofile .*|worker_rlimit_nofile ${nofile};|" \
    -e "s|worker_connections .*;|worker_connections $(( nofile / 2 ));|" \
    "$here/nginx.conf" >"$prefix/nginx.conf"

"$NGINX" -p "$prefix" -c nginx.conf -e logs/error.log -t -q
echo "lb: http://127.0.0.1:${LB_PORT} -> http://${UPSTREAM}" >&2
"$NGINX" -p "$prefix" -c nginx.conf -e logs/error.log -g 'daemon off;' &
pid=$!
trap 'kill -QUIT "$pid" 2>/dev/null || true' INT TERM
wait "$pid" || wait "$pid" || true
