#!/bin/sh
# ApplicationStart: point `current` at this release and replace the workers without dropping a
# request (`cutover apps reload`: one port at a time, the new worker ready before the old one
# drains). If the supervisor is not running yet, start it (systemd unit, or in the background).
set -eu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

rel="$WEBAPP_HOME/releases/$DEPLOYMENT_ID"
[ -d "$rel" ] || die "$rel is missing (AfterInstall did not run?)"
prev=$(readlink "$WEBAPP_HOME/current" 2>/dev/null || true)
# ValidateService rolls back to this one if the new release turns out bad.
printf '%s\n' "$prev" > "$WEBAPP_HOME/run/previous-release"
switch_current "$rel"

if supervisor_up; then
    say "reloading $APP_NAME: $(basename "${prev:-none}") -> $DEPLOYMENT_ID"
    if ! apps reload "$APP_NAME"; then
        # The supervisor stopped the rollout and kept the old workers; workers already
        # replaced run the new release, so go back everywhere.
        if [ -n "$prev" ]; then
            switch_current "$prev"
            apps reload "$APP_NAME" || true
        fi
        die "reload failed; back on $(basename "${prev:-none}")"
    fi
    exit 0
fi

if [ -n "$SUPERVISE_UNIT" ] && command -v systemctl >/dev/null 2>&1; then
    say "starting the supervisor: systemctl start $SUPERVISE_UNIT"
    systemctl start "$SUPERVISE_UNIT"
else
    say "starting the supervisor in the background (log: $SUPERVISE_LOG)"
    "$CUTOVER" supervise -c "$APPS_YAML" --check
    # Own session, output to its log: it outlives this hook and holds none of its pipes.
    setsid "$CUTOVER" supervise -c "$APPS_YAML" >>"$SUPERVISE_LOG" 2>&1 </dev/null &
    echo $! > "$WEBAPP_HOME/run/supervise.pid"
fi
i=0
while [ "$(count_state ready)" -lt "$WEBAPP_INSTANCES" ]; do
    i=$((i + 1))
    [ "$i" -le 600 ] || die "workers not ready after 60 s: $(apps status "$APP_NAME" 2>&1)"
    sleep 0.1
done
say "$WEBAPP_INSTANCES workers ready"
