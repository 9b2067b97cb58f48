#!/usr/bin/env bash
# cutover supervise vs PM2 (cluster mode), the same Node app (examples/apps/drain_app.js), 4
# workers each, in one run, on loopback. Prints a table and ratios.
#
#   bench/supervise.sh [--quick]
#
# Measures, per supervisor: time to 4 ready workers; failed requests (wrk socket errors +
# non-2xx) during 3 reloads under a 64-connection keep-alive load, for the typical app
# (DRAIN=typical: server.close()) and for a slow-booting app (BOOT_DELAY_MS=5000, gentle drain);
# time per reload; daemon RSS; CLI round trip (median of 20 status calls).
# PM2 comes from npm, installed into a temp dir that is deleted afterwards (never committed).
# Needs: node, npm, wrk, a release build ($CUTOVER_BIN, else build/cutover, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=0; [ "${1:-}" = --quick ] && QUICK=1
LOAD_S=$([ $QUICK = 1 ] && echo 20 || echo 45)
TMP=$(mktemp -d /tmp/cutover-bench-sv.XXXXXX)
PORT=$((20000 + RANDOM % 10000))
APP=$ROOT/examples/apps/drain_app.js
export PM2_HOME=$TMP/pm2home
SV_PID=

cleanup() {
    [ -n "$SV_PID" ] && kill -TERM "$SV_PID" 2>/dev/null && wait "$SV_PID" 2>/dev/null || true
    [ -x "$TMP/npm/node_modules/.bin/pm2" ] && "$TMP/npm/node_modules/.bin/pm2" kill >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wait_port() { for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$1/" >/dev/null && return 0; sleep 0.05; done; return 1; }

if [ -n "${CUTOVER_BIN:-}" ]; then
    CUTOVER=$(realpath "$CUTOVER_BIN")
else
    [ -x build/cutover ] || { cmake --preset release >/dev/null && cmake --build --preset release -j"$(nproc)" >/dev/null; }
    CUTOVER=$ROOT/build/cutover
fi
echo "installing pm2 into $TMP/npm (not committed) ..." >&2
npm install --silent --no-audit --no-fund --prefix "$TMP/npm" pm2 >/dev/null 2>&1
PM2=$TMP/npm/node_modules/.bin/pm2
PM2_VERSION=$("$PM2" --version 2>/dev/null | tail -1)

# wrk output -> "failed total"
wrk_failed() {
    awk '/requests in/ {t=$1} /Socket errors/ {gsub(",", ""); e=$4+$6+$8+$10}
         /Non-2xx/ {n=$5} END {printf "%d %d\n", e+n, t}' "$1"
}

# ---- cutover ------------------------------------------------------------------------------
app_version() { # drain boot_delay_ms: what the next start of a worker runs
    printf '{"drain": "%s", "boot_delay_ms": %s}\n' "$1" "$2" > "$TMP/app.json"
}

cutover_conf() {
    cat > "$TMP/apps.yaml" <<YAML
control: $TMP/sv.sock
apps:
  web:
    command: [node, $APP]
    instances: 4
    listen: 127.0.0.1:$PORT
    env: {APP_CONFIG: $TMP/app.json}
    ready: {http: /health}
    ready_timeout: 30s
    kill_timeout: 10s
YAML
}

cutover_run() { # name drain boot_delay -> sets vars
    local name=$1
    cutover_conf
    app_version "$2" 0
    local t0; t0=$(now)
    "$CUTOVER" supervise -c "$TMP/apps.yaml" 2>"$TMP/sv-$name.log" & SV_PID=$!
    for _ in $(seq 1 600); do
        n=$("$CUTOVER" apps status --socket "$TMP/sv.sock" --output json 2>/dev/null | grep -c '"state": "ready"' || true)
        [ "$n" = 4 ] && break; sleep 0.02
    done
    START_4=$(since "$t0")
    app_version "$2" "$3"   # the new version: what the reloads start
    wrk -t2 -c64 -d${LOAD_S}s --timeout 10s "http://127.0.0.1:$PORT/" > "$TMP/wrk-$name.txt" 2>&1 & local W=$!
    sleep 1
    local times=()
    for _ in 1 2 3; do
        local r0; r0=$(now)
        "$CUTOVER" apps reload web --socket "$TMP/sv.sock" --output json >/dev/null || echo "reload failed" >&2
        times+=("$(since "$r0")")
    done
    RELOAD_S=$(printf '%s\n' "${times[@]}" | median)
    wait $W
    RSS_KB=$(ps -o rss= -p "$SV_PID" | tr -d ' ')
    CLI_S=$(python3 - "$CUTOVER" "$TMP/sv.sock" <<'PY'
import statistics, subprocess, sys, time
ts = []
for _ in range(20):
    t = time.perf_counter()
    subprocess.run([sys.argv[1], "apps", "status", "--socket", sys.argv[2], "--output", "json"],
                   stdout=subprocess.DEVNULL, check=True)
    ts.append(time.perf_counter() - t)
print(f"{statistics.median(ts):.4f}")
PY
)
    RTT_S=$(python3 - "$TMP/sv.sock" <<'PY'
import socket, statistics, sys, time
ts = []
for _ in range(200):
    t = time.perf_counter()
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sys.argv[1])
        s.sendall(b'{"cmd":"status"}\n')
        buf = b""
        while not buf.endswith(b"\n"):
            buf += s.recv(65536)
    ts.append(time.perf_counter() - t)
print(f"{statistics.median(ts):.5f}")
PY
)
    read -r FAILED TOTAL < <(wrk_failed "$TMP/wrk-$name.txt")
    kill -TERM "$SV_PID"; wait "$SV_PID" || true; SV_PID=
}

# ---- PM2 ----------------------------------------------------------------------------------
pm2_run() { # name drain boot_delay
    local name=$1
    app_version "$2" 0
    local t0; t0=$(now)
    PORT=$PORT APP_CONFIG=$TMP/app.json "$PM2" start "$APP" -i 4 --name web >/dev/null
    for _ in $(seq 1 600); do
        n=$("$PM2" jlist 2>/dev/null | grep -o '"status":"online"' | wc -l)
        [ "$n" -ge 4 ] && curl -fs "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 0.02
    done
    START_4=$(since "$t0")
    app_version "$2" "$3"
    wrk -t2 -c64 -d${LOAD_S}s --timeout 10s "http://127.0.0.1:$PORT/" > "$TMP/wrk-$name.txt" 2>&1 & local W=$!
    sleep 1
    local times=()
    for _ in 1 2 3; do
        local r0; r0=$(now)
        "$PM2" reload web >/dev/null 2>&1 || echo "pm2 reload failed" >&2
        times+=("$(since "$r0")")
    done
    RELOAD_S=$(printf '%s\n' "${times[@]}" | median)
    wait $W
    RSS_KB=$(ps -o rss= -p "$(cat "$PM2_HOME/pm2.pid")" | tr -d ' ')
    CLI_S=$(python3 - "$PM2" <<'PY'
import statistics, subprocess, sys, time
ts = []
for _ in range(20):
    t = time.perf_counter()
    subprocess.run([sys.argv[1], "jlist"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ts.append(time.perf_counter() - t)
print(f"{statistics.median(ts):.4f}")
PY
)
    RTT_S=-
    read -r FAILED TOTAL < <(wrk_failed "$TMP/wrk-$name.txt")
    "$PM2" delete web >/dev/null 2>&1 || true
    "$PM2" kill >/dev/null 2>&1 || true
}

declare -A R
for sup in cutover pm2; do
    for scen in typical slowboot; do
        if [ $scen = typical ]; then drain=typical; delay=0; else drain=gentle; delay=5000; fi
        echo "running $sup / $scen ..." >&2
        ${sup}_run "$sup-$scen" $drain $delay
        R[$sup,$scen,failed]=$FAILED; R[$sup,$scen,total]=$TOTAL
        R[$sup,$scen,reload]=$RELOAD_S; R[$sup,$scen,rss]=$RSS_KB
        R[$sup,$scen,cli]=$CLI_S; R[$sup,$scen,start]=$START_4; R[$sup,$scen,rtt]=$RTT_S
        PORT=$((PORT + 1))
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.3f", a / b }'; }
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -r); node $(node --version); PM2 $PM2_VERSION; load ${LOAD_S}s x 64 conns"
printf '%-34s %14s %14s %10s\n' "metric" "cutover" "pm2" "ratio"
for scen in typical slowboot; do
    printf '%-34s %14s %14s %10s\n' "failed reqs, 3 reloads ($scen)" \
        "${R[cutover,$scen,failed]}/${R[cutover,$scen,total]}" "${R[pm2,$scen,failed]}/${R[pm2,$scen,total]}" \
        "$(ratio "${R[cutover,$scen,failed]}" "${R[pm2,$scen,failed]}")"
    printf '%-34s %14.2f %14.2f %10s\n' "time per reload s ($scen)" "${R[cutover,$scen,reload]}" "${R[pm2,$scen,reload]}" \
        "$(ratio "${R[cutover,$scen,reload]}" "${R[pm2,$scen,reload]}")"
done
printf '%-34s %14s %14s %10s\n' "daemon RSS KiB (after reloads)" "${R[cutover,typical,rss]}" "${R[pm2,typical,rss]}" \
    "$(ratio "${R[cutover,typical,rss]}" "${R[pm2,typical,rss]}")"
printf '%-34s %14.4f %14.4f %10s\n' "CLI status round trip s (median)" "${R[cutover,typical,cli]}" "${R[pm2,typical,cli]}" \
    "$(ratio "${R[cutover,typical,cli]}" "${R[pm2,typical,cli]}")"
printf '%-34s %14s %14s %10s\n' "control socket round trip s" "${R[cutover,typical,rtt]}" "(no socket)" "-"
printf '%-34s %14.2f %14.2f %10s\n' "time to 4 ready workers s" "${R[cutover,typical,start]}" "${R[pm2,typical,start]}" \
    "$(ratio "${R[cutover,typical,start]}" "${R[pm2,typical,start]}")"
