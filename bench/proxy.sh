#!/usr/bin/env bash
# bench/proxy.sh — the same backend measured direct, through nginx, HAProxy and cutover proxy.
#
# One run: two tiny nginx backends (`return 200 "ok"`, 1 worker each) are the two targets; in
# front of them, with the same worker count, nginx (upstream keepalive), HAProxy (nbthread,
# http-reuse always) and `cutover proxy` (round_robin). wrk (2 threads) at 64 and 256
# connections, ROUNDS interleaved rounds (direct, nginx, haproxy, cutover, then again), DURATION
# seconds each; prints the medians of requests/s, p99 latency and CPU µs per request (utime +
# stime of every process of the proxy, from /proc/PID/stat, divided by requests), and the
# ratios cutover÷nginx and cutover÷haproxy.
#
# CPU affinity (2-core machine): with WORKERS=1 each proxy runs on CPU 0 and wrk plus the
# backends on CPU 1, so the proxy under test has a core to itself and nothing else competes
# with it; with WORKERS>1 nothing is pinned (a 2-core machine cannot isolate 2 workers).
# "direct" runs wrk against one backend on CPU 1 (its CPU column is the backend nginx's).
#
# Environment: DURATION (s, default 10), ROUNDS (5), CONNS ("64 256"), WORKERS (1),
# CUTOVER_BIN (build/cutover), MODES ("direct nginx haproxy cutover"), PIN (1; 0 = no pinning).
# Loopback only; no root needed (ports are above 1024).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-"64 256"}
WORKERS=${WORKERS:-1}
MODES=${MODES:-"direct nginx haproxy cutover"}
CUTOVER_BIN=${CUTOVER_BIN:-$repo/build/cutover}
NCPU=$(nproc)

for tool in nginx haproxy wrk python3 taskset; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (make deps)" >&2; exit 1; }
done
case " $MODES " in *" cutover "*)
  [ -x "$CUTOVER_BIN" ] || { echo "bench: $CUTOVER_BIN not built (make)" >&2; exit 1; } ;;
esac
has() { case " $MODES " in *" $1 "*) return 0 ;; esac; return 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d /tmp/cutover-bench.XXXXXX)
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

PIN=${PIN:-1}
if [ "$PIN" = 1 ] && [ "$WORKERS" = 1 ] && [ "$NCPU" -ge 2 ]; then
  PROXY_CPUS=0; LOAD_CPUS=1
else
  PROXY_CPUS=0-$((NCPU - 1)); LOAD_CPUS=0-$((NCPU - 1))
fi

# start NAME CPUS CMD...: runs CMD in its own session (so the whole tree can be found and
# killed), pinned to CPUS; records the session leader's pid in $NAME_pid.
start() {
  local name=$1 cpus=$2; shift 2
  setsid taskset -c "$cpus" "$@" >"$work/$name.out" 2>&1 &
  local pid=$!
  pids+=("$pid")
  printf -v "${name}_pid" '%s' "$pid"
}

wait_port() {
  local port=$1 i
  for i in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: nothing listening on $port" >&2; tail -n 5 "$work"/*.out "$work"/*/error.log >&2 2>/dev/null; return 1
}

# All pids in session $1 (the process and every child/worker).
session_pids() { ps -e -o pid=,sid= | awk -v s="$1" '$2 == s {print $1}'; }

# utime+stime (clock ticks) summed over session $1.
cpu_ticks() {
  local total=0 p f
  for p in $(session_pids "$1"); do
    f=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue
    total=$((total + $(echo "$f" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

# ---- backends: two tiny nginx, 1 worker each -----------------------------------------------
B1=$(free_port); B2=$(free_port)
for b in 1 2; do
  port=$([ $b = 1 ] && echo "$B1" || echo "$B2")
  mkdir -p "$work/b$b"
  cat >"$work/b$b/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1; pid $work/b$b/nginx.pid;
error_log $work/b$b/error.log error;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  client_body_temp_path $work/b$b; proxy_temp_path $work/b$b; fastcgi_temp_path $work/b$b;
  uwsgi_temp_path $work/b$b; scgi_temp_path $work/b$b;
  server { listen 127.0.0.1:$port reuseport backlog=4096;
           location / { return 200 "ok"; } }
}
EOF
  start "backend$b" "$LOAD_CPUS" nginx -c "$work/b$b/nginx.conf" -p "$work/b$b"
  wait_port "$port"
done

# ---- the proxies ---------------------------------------------------------------------------
P_NGINX=$(free_port); P_HAPROXY=$(free_port); P_CUTOVER=$(free_port); P_ADMIN=$(free_port)

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off; worker_processes $WORKERS; pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log error;
events { worker_connections 8192; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  upstream backends { server 127.0.0.1:$B1; server 127.0.0.1:$B2;
                      keepalive 256; keepalive_requests 1000000; keepalive_timeout 300s; }
  server { listen 127.0.0.1:$P_NGINX reuseport backlog=4096;
           location / { proxy_pass http://backends; proxy_http_version 1.1;
                        proxy_set_header Connection ""; } }
}
EOF
nginx_pid=; haproxy_pid=; cutover_pid=
has nginx && start nginx "$PROXY_CPUS" nginx -c "$work/nginx/nginx.conf" -p "$work/nginx"

cat >"$work/haproxy.cfg" <<EOF
global
  nbthread $WORKERS
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
  option http-keep-alive
  http-reuse always
frontend web
  bind 127.0.0.1:$P_HAPROXY
  default_backend backends
backend backends
  balance roundrobin
  server b1 127.0.0.1:$B1
  server b2 127.0.0.1:$B2
EOF
has haproxy && start haproxy "$PROXY_CPUS" haproxy -f "$work/haproxy.cfg"

cat >"$work/cutover.yaml" <<EOF
admin: 127.0.0.1:$P_ADMIN
workers: $WORKERS
listeners:
  web:
    bind: 127.0.0.1:$P_CUTOVER
    idle_timeout: 300s
    forward: [{target_group: backends, weight: 1}]
target_groups:
  backends:
    algorithm: round_robin
    health_check: {path: /, interval: 5s, timeout: 2s, matcher: "200"}
    targets: [127.0.0.1:$B1, 127.0.0.1:$B2]
EOF
has cutover && start cutover "$PROXY_CPUS" "$CUTOVER_BIN" proxy -c "$work/cutover.yaml" --log-level warn

declare -A URL SID
URL[direct]=http://127.0.0.1:$B1/;        SID[direct]=$backend1_pid
URL[nginx]=http://127.0.0.1:$P_NGINX/;    SID[nginx]=$nginx_pid
URL[haproxy]=http://127.0.0.1:$P_HAPROXY/; SID[haproxy]=$haproxy_pid
URL[cutover]=http://127.0.0.1:$P_CUTOVER/; SID[cutover]=$cutover_pid

for m in $MODES; do
  port=${URL[$m]##*:}; wait_port "${port%/}"
  body=$(curl -fsS --max-time 5 "${URL[$m]}") || { echo "bench: $m does not answer" >&2; cat "$work"/*.out >&2; exit 1; }
  [ "$body" = ok ] || { echo "bench: $m answered '$body'" >&2; exit 1; }
done

# ---- measure -------------------------------------------------------------------------------
echo "# bench/proxy.sh: $(date -u +%FT%TZ), $(uname -srm), ${NCPU} CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
echo "# workers=$WORKERS duration=${DURATION}s rounds=$ROUNDS conns='$CONNS' proxy CPUs=$PROXY_CPUS, wrk+backends CPUs=$LOAD_CPUS"
echo "# $(nginx -v 2>&1 | sed 's/.*: //'), $(haproxy -v | head -1 | awk '{print "haproxy/"$3}'), $(wrk -v 2>&1 | head -1 | awk '{print $1"/"$2}')"

raw=$work/raw.tsv
for m in $MODES; do   # warm-up: fill the upstream pools, fault in the code
  taskset -c "$LOAD_CPUS" wrk -t2 -c64 -d2s "${URL[$m]}" >/dev/null
done
for r in $(seq 1 "$ROUNDS"); do
  for c in $CONNS; do
    for m in $MODES; do
      t0=$(cpu_ticks "${SID[$m]}")
      out=$(taskset -c "$LOAD_CPUS" wrk -t2 -c"$c" -d"${DURATION}s" --latency "${URL[$m]}")
      t1=$(cpu_ticks "${SID[$m]}")
      echo "$out" | python3 -c '
import re, sys
m, c, r, ticks, hz = sys.argv[1:6]
out = sys.stdin.read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
reqs = int(re.search(r"(\d+) requests in", out).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
p99 = re.search(r"99%\s+([\d.]+)(us|ms|s|m)\b", out)
errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
nerr = sum(int(x) for x in errs.groups()) if errs else 0
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
cpu_us = int(ticks) * 1e6 / int(hz) / max(reqs, 1)
print(f"{m}\t{c}\t{r}\t{rps:.0f}\t{ms(*p99.groups()):.3f}\t{cpu_us:.2f}\t{nerr}\t{non2xx.group(1) if non2xx else 0}")
' "$m" "$c" "$r" $((t1 - t0)) "$(getconf CLK_TCK)" | tee -a "$raw" >&2
    done
  done
done

python3 - "$raw" "$MODES" "$CONNS" <<'EOF'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
modes, conns = sys.argv[2].split(), sys.argv[3].split()
med = {}
for m in modes:
    for c in conns:
        sel = [r for r in rows if r[0] == m and r[1] == c]
        med[m, c] = tuple(statistics.median(float(r[i]) for r in sel) for i in (3, 4, 5)) + \
            (sum(int(r[6]) for r in sel), sum(int(r[7]) for r in sel), len(sel))
print()
print("| conns | mode | req/s (median) | p99 ms (median) | CPU µs/req (median) | socket errors | non-2xx | runs |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for c in conns:
    for m in modes:
        rps, p99, cpu, err, bad, n = med[m, c]
        cpu_s = f"{cpu:.1f}" + (" (backend)" if m == "direct" else "")
        print(f"| {c} | {m} | {rps:,.0f} | {p99:.2f} | {cpu_s} | {err} | {bad} | {n} |")
if "cutover" in modes:
    print()
    print("| conns | ratio | req/s | p99 | CPU/req |")
    print("|---|---|---:|---:|---:|")
    for c in conns:
        for peer in ("nginx", "haproxy"):
            if peer in modes:
                a, b = med["cutover", c], med[peer, c]
                print(f"| {c} | cutover÷{peer} | {a[0] / b[0]:.2f} | {a[1] / b[1]:.2f} | {a[2] / b[2]:.2f} |")
    print()
    print("(req/s ratio ≥ 1 is better; p99 and CPU/req ratios ≤ 1 are better)")
EOF
