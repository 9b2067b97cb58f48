#!/bin/sh
# ApplicationStop: stop the instance's app (the previous revision's copy of this script runs).
. "$(dirname "$0")/common.sh"
[ -f "$PIDFILE" ] || exit 0
pid=$(cat "$PIDFILE")
if kill -TERM "$pid" 2>/dev/null; then
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$pid" 2>/dev/null
fi
rm -f "$PIDFILE"
echo "stopped $NAME (pid $pid)"
