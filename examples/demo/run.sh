#!/usr/bin/env bash
# examples/demo/run.sh — what `make demo` runs: cutover proxy in front of two backends (blue and
# green, tests/backend/backend.py) on loopback; a bounded keep-alive load (wrk, 64 connections);
# traffic moved blue → green through the admin API in steps (100/0 → 90/10 → 50/50 → 10/90 →
# 0/100) while the load runs; then requests served, failures (must be 0) and p99.
# Everything it starts runs in its own session (Ctrl-C reaches only this script, whose trap
# stops them all), and is stopped on exit, Ctrl-C or failure. No root needed.
#
# Environment: CUTOVER_BIN (build/cutover), STEP_SECONDS (3), CONNECTIONS (64),
# MAX_REQUESTS (5000000).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
CUTOVER_BIN=${CUTOVER_BIN:-$repo/build/cutover}
STEP_SECONDS=${STEP_SECONDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
MAX_REQUESTS=${MAX_REQUESTS:-5000000}   # the load is bounded in requests as well as in time
STEPS=("100 0" "90 10" "50 50" "10 90" "0 100")
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3

for tool in wrk curl "$PY"; do
  command -v "$tool" >/dev/null || { echo "demo: $tool not found (run make deps)" >&2; exit 1; }
done
[ -x "$CUTOVER_BIN" ] || { echo "demo: $CUTOVER_BIN not found (run make)" >&2; exit 1; }

work=$(mktemp -d /tmp/cutover-demo.XXXXXX)
pids=()
cleanup() {
  local rc=$? p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [ "$rc" != 0 ] && [ "$rc" != 130 ]; then
    echo "demo: failed (exit $rc); logs:" >&2
    tail -n 20 "$work"/*.log >&2 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted" >&2; exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {   # wait_http URL: bounded wait (10 s) for an HTTP answer
  local i
  for i in $(seq 1 200); do curl -fsS --max-time 1 -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "demo: $1 did not answer" >&2; return 1
}

BLUE=$(free_port); GREEN=$(free_port); WEB=$(free_port); ADMIN=$(free_port)
setsid "$PY" "$repo/tests/backend/backend.py" --port "$BLUE" --name blue >"$work/blue.log" 2>&1 &
pids+=("$!")
setsid "$PY" "$repo/tests/backend/backend.py" --port "$GREEN" --name green >"$work/green.log" 2>&1 &
pids+=("$!")

cat >"$work/proxy.yaml" <<EOF
admin: 127.0.0.1:$ADMIN
workers: auto
listeners:
  web:
    bind: 127.0.0.1:$WEB
    forward:
      - {target_group: blue, weight: 100}
      - {target_group: green, weight: 0}
target_groups:
  blue:
    deregistration_delay: 5s
    health_check: {path: /health, interval: 1s, timeout: 500ms, healthy_threshold: 2,
                   unhealthy_threshold: 2, matcher: "200"}
    targets: [127.0.0.1:$BLUE]
  green:
    deregistration_delay: 5s
    health_check: {path: /health, interval: 1s, timeout: 500ms, healthy_threshold: 2,
                   unhealthy_threshold: 2, matcher: "200"}
    targets: [127.0.0.1:$GREEN]
EOF
"$CUTOVER_BIN" proxy -c "$work/proxy.yaml" --check >/dev/null
setsid "$CUTOVER_BIN" proxy -c "$work/proxy.yaml" --log-level warn >"$work/proxy.log" 2>&1 &
pids+=("$!")
wait_http "http://127.0.0.1:$BLUE/health"
wait_http "http://127.0.0.1:$GREEN/health"
wait_http "http://127.0.0.1:$ADMIN/healthz"
wait_http "http://127.0.0.1:$WEB/"

healthy() {  # healthy GROUP: the group's single target reports "healthy"
  curl -fsS --max-time 2 "http://127.0.0.1:$ADMIN/target-groups/$1/health" | grep -q '"state": *"healthy"'
}
for g in blue green; do
  for i in $(seq 1 100); do healthy "$g" && break; sleep 0.1; done
  healthy "$g" || { echo "demo: target group $g never became healthy" >&2; exit 1; }
done

served() { curl -fsS --max-time 2 "http://127.0.0.1:$1/_control" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }

duration=$(( ${#STEPS[@]} * STEP_SECONDS + 5 ))   # the steps, plus slack for the admin calls
echo "cutover demo: proxy on 127.0.0.1:$WEB (admin 127.0.0.1:$ADMIN), blue :$BLUE, green :$GREEN"
echo "load: wrk, $CONNECTIONS keep-alive connections, ${duration}s; moving traffic every ${STEP_SECONDS}s"
setsid wrk -t2 -c"$CONNECTIONS" -d"${duration}s" --timeout 5s -s "$repo/tests/e2e/wrk_count.lua" \
  "http://127.0.0.1:$WEB/" -- "$MAX_REQUESTS" 2 >"$work/wrk.out" 2>&1 &
wrk_pid=$!
pids+=("$wrk_pid")
sleep 1

printf '%-12s %10s %10s\n' "blue/green" "blue req" "green req"
for step in "${STEPS[@]}"; do
  set -- $step
  # The PUT returns once every worker applies the new weights; count from then on.
  curl -fsS --max-time 10 -X PUT -H 'Content-Type: application/json' \
    -d "{\"forward\":[{\"target_group\":\"blue\",\"weight\":$1},{\"target_group\":\"green\",\"weight\":$2}]}" \
    "http://127.0.0.1:$ADMIN/listeners/web/action" >/dev/null
  b0=$(served "$BLUE"); g0=$(served "$GREEN")
  sleep "$STEP_SECONDS"
  b1=$(served "$BLUE"); g1=$(served "$GREEN")
  printf '%-12s %10d %10d\n' "$1/$2" $((b1 - b0)) $((g1 - g0))
done

wait "$wrk_pid" || { echo "demo: wrk failed" >&2; cat "$work/wrk.out" >&2; exit 1; }
"$PY" - "$work/wrk.out" <<'EOF'
import re, sys
out = open(sys.argv[1]).read()
s = dict(kv.split("=") for kv in re.search(r"^WRK_SUMMARY (.*)$", out, re.M).group(1).split())
s = {k: int(v) for k, v in s.items()}
statuses = {int(a): int(b) for a, b in re.findall(r"^WRK_STATUS (\d+) (\d+)$", out, re.M)}
errors = s["connect"] + s["read"] + s["write"] + s["timeout"]
non2xx = sum(n for st, n in statuses.items() if not 200 <= st < 300)
failures = errors + non2xx
print()
print(f"requests served: {s['requests']}")
print(f"failures:        {failures}  (socket errors {errors}, non-2xx {non2xx})")
print(f"p99 latency:     {s['p99_us'] / 1000:.2f} ms")
sys.exit(1 if failures or not s["requests"] else 0)
EOF
