#!/usr/bin/env bash
# bench/proxy-memory.sh — proxy memory with 10,000 idle keep-alive client connections,
# cutover proxy vs nginx (same worker count), in front of one tiny nginx backend.
#
# For each proxy: RSS (sum of VmRSS over every process of the proxy: nginx master + workers,
# cutover's single process) when idle, then after bench/idle-clients.py opened CONNS keep-alive
# connections, sent one request on each and left them idle; prints both, the difference and the
# cost per connection. Pinning: the proxy on CPU 0, client and backend on CPU 1 (as proxy.sh).
#
# Environment: CONNS (10000), WORKERS (1), CUTOVER_BIN (build/cutover), MODES ("nginx cutover").
# The open-files limit must allow CONNS + a few hundred descriptors (ulimit -n).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
CONNS=${CONNS:-10000}
WORKERS=${WORKERS:-1}
MODES=${MODES:-"nginx cutover"}
CUTOVER_BIN=${CUTOVER_BIN:-$repo/build/cutover}
NCPU=$(nproc)
PROXY_CPUS=0; LOAD_CPUS=$((NCPU > 1 ? 1 : 0))

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((CONNS + 500)) ]; then
  echo "bench: open-files limit $(ulimit -n) is below CONNS+500 ($((CONNS + 500)))" >&2; exit 1
fi
case " $MODES " in *" cutover "*)
  [ -x "$CUTOVER_BIN" ] || { echo "bench: $CUTOVER_BIN not built (make)" >&2; exit 1; } ;;
esac

work=$(mktemp -d /tmp/cutover-mem.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {
  local name=$1 cpus=$2; shift 2
  setsid taskset -c "$cpus" "$@" >"$work/$name.out" 2>&1 &
  pids+=("$!")
  printf -v "${name}_pid" '%s' "$!"
}
wait_port() {
  local i
  for i in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: nothing listening on $1" >&2; tail -n 5 "$work"/*.out >&2; return 1
}
session_pids() { ps -e -o pid=,sid= | awk -v s="$1" '$2 == s {print $1}'; }
rss_kib() {   # VmRSS summed over session $1
  local total=0 p v
  for p in $(session_pids "$1"); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

B=$(free_port)
mkdir -p "$work/b"
cat >"$work/b/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1; pid $work/b/nginx.pid;
error_log $work/b/error.log error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  client_body_temp_path $work/b; proxy_temp_path $work/b; fastcgi_temp_path $work/b;
  uwsgi_temp_path $work/b; scgi_temp_path $work/b;
  server { listen 127.0.0.1:$B; location / { return 200 "ok"; } } }
EOF
start backend "$LOAD_CPUS" nginx -c "$work/b/nginx.conf" -p "$work/b"
wait_port "$B"

P_NGINX=$(free_port); P_CUTOVER=$(free_port); P_ADMIN=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off; worker_processes $WORKERS; worker_rlimit_nofile $(ulimit -n); pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log error;
events { worker_connections $((CONNS + 1000)); }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 600s;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  upstream backends { server 127.0.0.1:$B; keepalive 64; }
  server { listen 127.0.0.1:$P_NGINX backlog=4096;
           location / { proxy_pass http://backends; proxy_http_version 1.1;
                        proxy_set_header Connection ""; } } }
EOF
cat >"$work/cutover.yaml" <<EOF
admin: 127.0.0.1:$P_ADMIN
workers: $WORKERS
listeners:
  web:
    bind: 127.0.0.1:$P_CUTOVER
    idle_timeout: 600s
    forward: [{target_group: backends, weight: 1}]
target_groups:
  backends:
    health_check: {path: /, interval: 5s, timeout: 2s, matcher: "200"}
    targets: [127.0.0.1:$B]
EOF

echo "# bench/proxy-memory.sh: $(date -u +%FT%TZ), $(uname -srm), ${NCPU} CPUs, workers=$WORKERS, $CONNS idle keep-alive connections"
echo
echo "| proxy | idle RSS MiB | RSS with $CONNS conns MiB | added MiB | KiB per connection |"
echo "|---|---:|---:|---:|---:|"
for m in $MODES; do
  case $m in
    nginx) start nginx "$PROXY_CPUS" nginx -c "$work/nginx/nginx.conf" -p "$work/nginx"; port=$P_NGINX; sid=$nginx_pid ;;
    cutover) start cutover "$PROXY_CPUS" "$CUTOVER_BIN" proxy -c "$work/cutover.yaml" --log-level warn; port=$P_CUTOVER; sid=$cutover_pid ;;
    *) echo "bench: unknown mode $m" >&2; exit 1 ;;
  esac
  wait_port "$port"
  curl -fsS --max-time 5 "http://127.0.0.1:$port/" >/dev/null
  sleep 1                                   # let start-up allocations settle
  idle=$(rss_kib "$sid")
  coproc CLIENT { exec taskset -c "$LOAD_CPUS" python3 "$here/idle-clients.py" "$port" "$CONNS"; }
  client_pid=$CLIENT_PID
  read -r -t 150 line <&"${CLIENT[0]}" || { echo "bench: client failed against $m" >&2; exit 1; }
  [ "${line% *}" = ready ] || { echo "bench: client said '$line'" >&2; exit 1; }
  sleep 1
  loaded=$(rss_kib "$sid")
  kill "$client_pid" 2>/dev/null || true
  wait "$client_pid" 2>/dev/null || true
  python3 -c "
i, l, n = $idle, $loaded, $CONNS
print(f'| $m | {i/1024:.1f} | {l/1024:.1f} | {(l-i)/1024:.1f} | {(l-i)/n:.2f} |')"
  kill -TERM -- "-$sid" 2>/dev/null || true
done
