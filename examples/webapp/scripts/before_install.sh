#!/bin/sh
# BeforeInstall: the host has what the release needs.
set -eu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v node >/dev/null || die "node is not installed (the webapp needs Node >= 18.2)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || die "node $(node --version) is too old (the webapp needs >= 18.2)"
command -v curl >/dev/null || die "curl is not installed (ValidateService uses it)"
mkdir -p "$WEBAPP_HOME/releases" "$WEBAPP_HOME/run" "$(dirname "$SUPERVISE_LOG")"
say "node $(node --version), deploying $DEPLOYMENT_ID to $WEBAPP_HOME"
