#!/bin/sh
# ApplicationStop (runs the scripts of the revision installed now, see APPSPEC.md).
# The webapp is never stopped for a deployment: ApplicationStart replaces its workers with
# `cutover apps reload`, which starts each new worker before it drains an old one, so the
# host keeps serving through Install. (`cutover apps stop` here would drop every request
# until ApplicationStart; on a host that the load balancer has already taken out of service,
# as a blue/green original fleet after BlockTraffic, it would be harmless but useless.)
# What this hook does: show what runs now, in the deployment's log, and refuse to go on when
# the supervisor is there but the app is in a crash loop nobody has looked at.
set -eu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

if ! supervisor_up; then
    say "supervisor not running (first deployment on this host?): nothing to stop"
    exit 0
fi
apps status "$APP_NAME" --output table || true
errored=$(count_state errored)
if [ "$errored" -gt 0 ]; then
    say "$errored worker(s) errored (crash loop): \`cutover apps logs $APP_NAME\`;" \
        "ApplicationStart will reload them with the new release"
fi
