# shellcheck shell=sh
# Sourced by every hook: settings, logging, and the few helpers the hooks share.
# Hooks run as <deployment-archive>/scripts/<name>.sh, so the bundle is one directory up.
BUNDLE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../deploy.env
. "$BUNDLE/deploy.env"

say() { printf '%s: %s\n' "${LIFECYCLE_EVENT:-hook}" "$*"; }
die() { printf '%s: %s\n' "${LIFECYCLE_EVENT:-hook}" "$*" >&2; exit 1; }

apps() { "$CUTOVER" apps "$@" -c "$APPS_YAML"; }

# True when the supervisor answers on its control socket.
supervisor_up() { apps status "$APP_NAME" --output json >/dev/null 2>&1; }

# Number of workers of the app in state <state>.
count_state() {
    apps status "$APP_NAME" --output json 2>/dev/null |
        grep -o "\"state\": *\"$1\"" | wc -l
}

# Points $WEBAPP_HOME/current at <release dir>, atomically (rename of a fresh symlink).
switch_current() {
    ln -sfn "$1" "$WEBAPP_HOME/.current.tmp" &&
        mv -T "$WEBAPP_HOME/.current.tmp" "$WEBAPP_HOME/current"
}

nginx_enabled() { [ -n "$NGINX" ]; }

# shellcheck disable=SC2086  # NGINX_ARGS is a list of words on purpose
nginx_cmd() { "$NGINX" $NGINX_ARGS "$@"; }

# GET <url> and print the body; fails on a non-2xx answer or after 5 s.
http_get() { curl -fsS --max-time 5 "$1"; }
