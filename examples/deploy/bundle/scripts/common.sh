# Sourced by every hook of the sample bundle. The agent gives each hook CUTOVER_INSTANCE_NAME
# and CUTOVER_TARGET (the host:port the proxy sends this instance's traffic to); the revision's
# own settings are in release.env at the root of the bundle.
ARCHIVE=$(cd "$(dirname "$0")/.." && pwd)
VERSION=v1
ERROR_RATIO=0
VALIDATE_EXIT=0
START_SLEEP=0
MAX_LIFETIME=0
[ -f "$ARCHIVE/release.env" ] && . "$ARCHIVE/release.env"
STATE=${APP_STATE_DIR:-/tmp}
NAME=${CUTOVER_INSTANCE_NAME:-local}
PIDFILE="$STATE/app-$NAME.pid"
PORT=${CUTOVER_TARGET##*:}
[ -n "$PORT" ] || PORT=8000
PYTHON=${PYTHON:-python3}

# probe PATH: exit 0 when http://127.0.0.1:$PORT$PATH answers 200
probe() {
    "$PYTHON" - "$PORT" "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}", timeout=1) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}
