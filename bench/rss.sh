#!/usr/bin/env bash
# Memory and exec cost of each cutover role, next to PM2's daemon, in one run.
#
#   CUTOVER_BIN=build/cutover [BEFORE_BIN=old/cutover] bench/rss.sh [--no-pm2]
#
# Prints: binary size and DT_NEEDED libraries; `cutover version` exec time (mean of 300 execs,
# with /bin/true as the floor of the same loop); VmRSS (from /proc/PID/status, i.e. RSS, not
# PSS) of `cutover supervise` with one worker (examples/apps/drain_app.py, listen: mode,
# ready: {http: /health}), of an idle `cutover proxy`, of `cutover server` and of a registered
# `cutover agent` polling it; the largest RSS contributors of the supervisor (from smaps); and
# PM2's daemon ("God Daemon") RSS with one worker of examples/apps/drain_app.js (PM2 from npm,
# installed into a temp dir that is deleted afterwards). With BEFORE_BIN, also `cutover version`
# exec time of both binaries interleaved (7 rounds of 100 execs each, medians), which cancels
# most of the background load of a shared machine. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$(realpath "${CUTOVER_BIN:-build/cutover}")
NO_PM2=0; [ "${1:-}" = --no-pm2 ] && NO_PM2=1
TMP=$(mktemp -d /tmp/cutover-bench-rss.XXXXXX)
PIDS=()
export PM2_HOME=$TMP/pm2home

cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -x "$TMP/npm/node_modules/.bin/pm2" ] && "$TMP/npm/node_modules/.bin/pm2" kill >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
wait_for() { # tries command...: bounded wait for a condition (50 ms steps)
    local n=$1; shift
    for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "timed out waiting for: $*" >&2; return 1
}
settle() { sleep 2; } # let a daemon finish its start-up work before sampling RSS

[ -x "$BIN" ] || { echo "no binary at $BIN (set CUTOVER_BIN)" >&2; exit 1; }
SIZE=$(stat -c %s "$BIN")
NEEDED=$(readelf -d "$BIN" | awk '/NEEDED/ {gsub(/[][]/, "", $5); printf "%s ", $5}')

# ---- exec time ----------------------------------------------------------------------------
exec_us() { # command...: mean wall time of 300 sequential execs, µs
    local t0 t1
    t0=$(date +%s%N)
    for _ in $(seq 1 300); do "$@" >/dev/null; done
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 300 / 1000))
}
exec_us "$BIN" version >/dev/null # warm the page cache
VERSION_US=$(exec_us "$BIN" version)
TRUE_US=$(exec_us /bin/true)
exec_round() { # binary: mean µs of 100 execs
    local t0 t1
    t0=$(date +%s%N)
    for _ in $(seq 1 100); do "$@" >/dev/null; done
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 100 / 1000))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
if [ -n "${BEFORE_BIN:-}" ]; then
    A=(); B=(); T=()
    for _ in 1 2 3 4 5 6 7; do
        B+=("$(exec_round "$BEFORE_BIN" version)")
        A+=("$(exec_round "$BIN" version)")
        T+=("$(exec_round /bin/true)")
    done
    CMP_BEFORE=$(printf '%s\n' "${B[@]}" | median)
    CMP_AFTER=$(printf '%s\n' "${A[@]}" | median)
    CMP_TRUE=$(printf '%s\n' "${T[@]}" | median)
fi

# ---- supervise, one worker ----------------------------------------------------------------
SV_PORT=$(free_port)
cat > "$TMP/apps.yaml" <<YAML
control: $TMP/sv.sock
apps:
  web:
    command: [python3, $ROOT/examples/apps/drain_app.py]
    instances: 1
    listen: 127.0.0.1:$SV_PORT
    ready: {http: /health}
YAML
"$BIN" supervise -c "$TMP/apps.yaml" 2>"$TMP/sv.log" & SV=$!; PIDS+=("$SV")
sv_ready() { "$BIN" apps status --socket "$TMP/sv.sock" --output json | grep -q '"state": "ready"'; }
wait_for 400 sv_ready
curl -fs "http://127.0.0.1:$SV_PORT/" >/dev/null
settle
SV_RSS=$(rss_kb "$SV")
SV_TOP=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {name = (NF >= 6) ? $6 : "[anon]"; sub(".*/", "", name)}
              /^Rss:/ {r[name] += $2}
              END {for (n in r) if (r[n] >= 64) printf "%s %d\n", n, r[n]}' "/proc/$SV/smaps" |
         sort -k2 -nr | head -8 | awk '{printf "%s %d KiB; ", $1, $2}')

# ---- proxy, idle --------------------------------------------------------------------------
PX_PORT=$(free_port); PX_ADMIN=$(free_port)
cat > "$TMP/proxy.yaml" <<YAML
admin: 127.0.0.1:$PX_ADMIN
workers: 1
listeners:
  web:
    bind: 127.0.0.1:$PX_PORT
    forward: [{target_group: blue, weight: 1}]
target_groups:
  blue:
    targets: [127.0.0.1:$SV_PORT]
YAML
"$BIN" proxy -c "$TMP/proxy.yaml" 2>"$TMP/proxy.log" & PX=$!; PIDS+=("$PX")
wait_for 200 curl -fs "http://127.0.0.1:$PX_PORT/"
settle
PX_RSS=$(rss_kb "$PX")

# ---- server and agent ---------------------------------------------------------------------
SRV_PORT=$(free_port)
"$BIN" server init --data "$TMP/srv" --listen "127.0.0.1:$SRV_PORT" >/dev/null
"$BIN" server -c "$TMP/srv/server.yaml" 2>"$TMP/server.log" & SRV=$!; PIDS+=("$SRV")
wait_for 200 curl -s -o /dev/null "http://127.0.0.1:$SRV_PORT/"
mkdir -p "$TMP/agent"
"$BIN" agent --server "http://127.0.0.1:$SRV_PORT" --token "$(cat "$TMP/srv/enroll.token")" \
    --name bench --tags role=web --target "127.0.0.1:$(free_port)" --root "$TMP/agent" \
    --poll-wait 5 2>"$TMP/agent.log" & AG=$!; PIDS+=("$AG")
ag_online() {
    curl -fs -H "Authorization: Bearer $(cat "$TMP/srv/admin.token")" \
        "http://127.0.0.1:$SRV_PORT/v1/instances" | grep -q '"bench"'
}
wait_for 400 ag_online || echo "agent did not register (see $TMP/agent.log)" >&2
settle
SRV_RSS=$(rss_kb "$SRV")
AG_RSS=$(rss_kb "$AG")

# ---- PM2 ----------------------------------------------------------------------------------
PM2_RSS=-; PM2_VERSION=-
if [ $NO_PM2 = 0 ] && command -v npm >/dev/null; then
    echo "installing pm2 into $TMP/npm (not committed) ..." >&2
    npm install --silent --no-audit --no-fund --prefix "$TMP/npm" pm2 >/dev/null 2>&1
    PM2=$TMP/npm/node_modules/.bin/pm2
    PM2_VERSION=$("$PM2" --version 2>/dev/null | tail -1)
    PM2_PORT=$(free_port)
    PORT=$PM2_PORT "$PM2" start "$ROOT/examples/apps/drain_app.js" -i 1 --name web >/dev/null
    wait_for 400 curl -fs "http://127.0.0.1:$PM2_PORT/"
    settle
    PM2_RSS=$(rss_kb "$(cat "$PM2_HOME/pm2.pid")")
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "-" || b == 0) print "-"; else printf "%.3f", a / b }'; }
echo "binary: $BIN, $SIZE bytes; needs: $NEEDED"
echo "machine: $(nproc) cores, $(uname -r); load $(cut -d' ' -f1-3 /proc/loadavg); PM2 $PM2_VERSION"
printf '%-40s %10s %10s\n' "measure" "value" "÷ PM2"
printf '%-40s %10s %10s\n' "cutover version exec µs (mean of 300)" "$VERSION_US" "-"
printf '%-40s %10s %10s\n' "/bin/true exec µs (same loop, floor)" "$TRUE_US" "-"
printf '%-40s %10s %10s\n' "supervise, 1 worker: RSS KiB" "$SV_RSS" "$(ratio "$SV_RSS" "$PM2_RSS")"
printf '%-40s %10s %10s\n' "proxy, idle: RSS KiB" "$PX_RSS" "-"
printf '%-40s %10s %10s\n' "server, 1 agent: RSS KiB" "$SRV_RSS" "-"
printf '%-40s %10s %10s\n' "agent, registered: RSS KiB" "$AG_RSS" "-"
printf '%-40s %10s %10s\n' "PM2 daemon, 1 worker: RSS KiB" "$PM2_RSS" "1.000"
echo "supervise RSS by mapping: $SV_TOP"
if [ -n "${BEFORE_BIN:-}" ]; then
    echo "interleaved exec µs (median of 7 x 100): $BEFORE_BIN version $CMP_BEFORE;" \
         "$BIN version $CMP_AFTER; /bin/true $CMP_TRUE;" \
         "after/before $(awk -v a="$CMP_AFTER" -v b="$CMP_BEFORE" 'BEGIN {printf "%.2f", a / b}')"
fi
