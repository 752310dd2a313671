#!/usr/bin/env bash
# Runs deploy/nginx.conf with Debian's nginx, without root and without Docker,
# in front of gateways already running on this machine (e.g. `bun run dev`).
#
#   deploy/nginx-local.sh                  # :8088 -> 127.0.0.1:8080
#   LB_PORT=9000 UPSTREAM=127.0.0.1:8181,127.0.0.1:8182 deploy/nginx-local.sh
#
# UPSTREAM is one address or a comma list (an upstream group, as Docker's DNS gives several
# replicas). Stops gracefully on Ctrl-C or SIGTERM. The prefix (config, logs) is LB_PREFIX, or a
# temporary directory removed at exit. test/deploy/nginx.test.ts runs this against two gateways.
set -euo pipefail

LB_PORT="${LB_PORT:-8088}"
UPSTREAM="${UPSTREAM:-127.0.0.1:8080}"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
here="$(cd "$(dirname "$0")" && pwd)"

nofile="$(ulimit -Hn)"
[[ "$nofile" == unlimited ]] && nofile=131072

if [[ -n "${LB_PREFIX:-}" ]]; then
  prefix="$LB_PREFIX"
  mkdir -p "$prefix"
else
  prefix="$(mktemp -d)"
  trap 'rm -rf "$prefix"' EXIT
fi
chmod 755 "$prefix"
mkdir -p "$prefix/logs" "$prefix/tmp"

(( nofile > 32768 )) && nofile=32768
servers=""
IFS=, read -ra addrs <<<"$UPSTREAM"
for a in "${addrs[@]}"; do servers+="server ${a}; "; done

# Same file, with the Docker-only parts swapped for local ones: the listen
# port, the upstream (a group of IP literals needs no resolver), the /tmp
# paths, the access log (a file in the prefix, same format) and the
# descriptor limit (this shell's, when lower).
sed -e "s|listen 8080;|listen 127.0.0.1:${LB_PORT};|" \
    -e "s|^http {|http {\n    upstream rt_gateways { ${servers}}|" \
    -e "s|http://gateway:8080|http://rt_gateways|" \
    -e "s|/tmp/nginx|${prefix}/tmp/nginx|g" \
    -e "s|access_log /dev/stdout rt;|access_log ${prefix}/logs/access.log rt;|" \
    -e "s|^worker_rlimit_nofile .*|worker_rlimit_nofile ${nofile};|" \
    "$here/nginx.conf" >"$prefix/nginx.conf"

"$NGINX" -p "$prefix" -c nginx.conf -e logs/error.log -t -q
echo "lb: http://127.0.0.1:${LB_PORT} -> http://${UPSTREAM}" >&2
"$NGINX" -p "$prefix" -c nginx.conf -e logs/error.log -g 'daemon off;' &
pid=$!
trap 'kill -QUIT "$pid" 2>/dev/null || true' INT TERM
wait "$pid" || wait "$pid" || true
