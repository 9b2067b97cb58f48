#!/bin/sh
# ValidateService: every worker answers /health/deep (its dependencies are there) and serves
# this release's version, and so does nginx. If not, switch back to the previous release
# (`cutover apps reload`, lossless) and fail: the deployment fails and the host keeps serving
# what it served before.
set -eu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

want=$(cat "$WEBAPP_HOME/current/VERSION")

check_all() {
    i=0
    while [ "$i" -lt "$WEBAPP_INSTANCES" ]; do
        base="http://127.0.0.1:$((WEBAPP_PORT + i))"
        http_get "$base/health/deep" >/dev/null || { echo "$base/health/deep failed"; return 1; }
        http_get "$base/version" | grep -q "\"version\":\"$want\"" ||
            { echo "$base/version is not $want"; return 1; }
        i=$((i + 1))
    done
    if nginx_enabled; then
        http_get "$NGINX_URL/health/deep" >/dev/null || { echo "nginx: /health/deep failed"; return 1; }
        http_get "$NGINX_URL/version" | grep -q "\"version\":\"$want\"" ||
            { echo "nginx: /version is not $want"; return 1; }
    fi
}

deadline=$(($(date +%s) + VALIDATE_TIMEOUT))
while ! why=$(check_all 2>&1); do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        say "release $want is not healthy after ${VALIDATE_TIMEOUT}s: $why"
        prev=$(cat "$WEBAPP_HOME/run/previous-release" 2>/dev/null || true)
        if [ -n "$prev" ] && [ -d "$prev" ]; then
            say "rolling back to $(basename "$prev") ($(cat "$prev/VERSION"))"
            switch_current "$prev"
            apps reload "$APP_NAME"
        fi
        die "ValidateService failed: $why"
    fi
    sleep 0.5
done
say "version $want healthy on $WEBAPP_INSTANCES workers${NGINX:+ and through nginx}"
