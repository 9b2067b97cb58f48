#!/bin/sh
# ApplicationStart: start the app on this instance's target port, wait until it answers.
. "$(dirname "$0")/common.sh"
[ "$START_SLEEP" = 0 ] || sleep "$START_SLEEP"
mkdir -p "$STATE"
rm -f "$PIDFILE"
setsid "$PYTHON" "$ARCHIVE/app/server.py" --port "$PORT" --version "$VERSION" \
    --error-ratio "$ERROR_RATIO" --max-lifetime "$MAX_LIFETIME" --pidfile "$PIDFILE" \
    </dev/null >>"$STATE/app-$NAME.log" 2>&1 &
i=0
until probe /health; do
    i=$((i + 1))
    if [ $i -ge 100 ]; then echo "app $VERSION did not start on port $PORT"; exit 1; fi
    sleep 0.1
done
echo "started $VERSION on port $PORT"
