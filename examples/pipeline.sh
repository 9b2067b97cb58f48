#!/bin/sh
# examples/pipeline.sh: the pipeline of examples/gitlab-ci/.gitlab-ci.yml, run on your machine.
#
#   examples/pipeline.sh [--yes] [STAGE...]
#
# Stages, in order (default: all of them): build test package deploy switch validate.
#   build     copy examples/webapp to $WORK/bundle, stamp app/VERSION, syntax-check the app
#   test      run the app on $TEST_PORT, check /health, /health/deep, /version; validate the
#             bundle with `cutover local --check`
#   package   $WORK/webapp-$VERSION.tgz (+ .sha256), checked again with `cutover local --check`
#   deploy    `cutover deploy push` (→ REVISION_ID), then `create-deployment --wait` to the
#             staging group ($STAGING_GROUP; empty: skip staging)
#   switch    the manual gate, then `create-deployment --wait` to $PROD_GROUP: on a blue/green
#             group this is the traffic switch (canary, alarms, automatic rollback: group.json)
#   validate  the production deployment Succeeded and was not rolled back, and $PROD_URL serves
#             $VERSION
# Stages hand values on through $WORK/pipeline.env (as GitLab's dotenv artifacts do), so they
# can run one at a time: `examples/pipeline.sh deploy`, later `examples/pipeline.sh --yes switch`.
#
# Environment: CUTOVER_SERVER and CUTOVER_TOKEN (or CUTOVER_TOKEN_FILE) for the deploy stages;
# CUTOVER (binary, default `cutover`), APP (webapp), SOURCE (the bundle directory to build from,
# default examples/webapp), STAGING_GROUP (staging), PROD_GROUP (prod),
# PROD_URL (http://127.0.0.1:8080), VERSION (default: git describe), WORK (./_pipeline),
# TEST_PORT (18080), WAIT_TIMEOUT (30m).
# --yes answers the production gate (required when stdin is not a terminal).
# Exit status: 0 all stages passed; 1 a stage failed; 2 usage; 75 the server was unreachable
# (as `cutover deploy` reports it: retry later).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
: "${CUTOVER:=cutover}"
: "${APP:=webapp}"
: "${SOURCE:=$HERE/webapp}"
: "${STAGING_GROUP=staging}"
: "${PROD_GROUP:=prod}"
: "${PROD_URL:=http://127.0.0.1:8080}"
: "${WORK:=$PWD/_pipeline}"
: "${TEST_PORT:=18080}"
: "${WAIT_TIMEOUT:=30m}"
YES=0

say() { printf '== %s: %s\n' "$STAGE" "$*"; }
die() { printf '== %s: FAILED: %s\n' "$STAGE" "$1" >&2; exit "${2:-1}"; }

# Values handed from one stage to the next.
put() {
    mkdir -p "$WORK"
    touch "$WORK/pipeline.env"
    grep -v "^$1=" "$WORK/pipeline.env" > "$WORK/pipeline.env.tmp" || true
    printf '%s=%s\n' "$1" "$2" >> "$WORK/pipeline.env.tmp"
    mv "$WORK/pipeline.env.tmp" "$WORK/pipeline.env"
}
load() { [ -f "$WORK/pipeline.env" ] && . "$WORK/pipeline.env"; return 0; }

need_server() {
    [ -n "${CUTOVER_SERVER:-}" ] || die "CUTOVER_SERVER is not set (the cutover server's URL)" 2
    if [ -z "${CUTOVER_TOKEN:-}" ] && [ -n "${CUTOVER_TOKEN_FILE:-}" ]; then
        CUTOVER_TOKEN=$(cat "$CUTOVER_TOKEN_FILE")
    fi
    [ -n "${CUTOVER_TOKEN:-}" ] || die "CUTOVER_TOKEN (or CUTOVER_TOKEN_FILE) is not set" 2
    export CUTOVER_SERVER CUTOVER_TOKEN
}

# `cutover deploy …`; keeps its exit status (75: server unreachable) for the pipeline's.
deploy() {
    rc=0
    "$CUTOVER" deploy "$@" || rc=$?
    return "$rc"
}

stage_build() {
    VERSION=${VERSION:-$(git -C "$HERE" describe --always --dirty 2>/dev/null || date -u +%Y%m%d%H%M%S)}
    rm -rf "$WORK/bundle"
    mkdir -p "$WORK"
    [ -f "$SOURCE/appspec.yml" ] || die "$SOURCE has no appspec.yml (SOURCE: the bundle to build)" 2
    cp -R "$SOURCE" "$WORK/bundle"
    printf '%s\n' "$VERSION" > "$WORK/bundle/app/VERSION"
    for js in "$WORK"/bundle/app/*.js; do node --check "$js"; done
    put VERSION "$VERSION"
    say "bundle $WORK/bundle, version $VERSION"
}

stage_test() {
    load
    [ -d "$WORK/bundle" ] || die "no bundle: run the build stage first"
    PORT=$TEST_PORT node "$WORK/bundle/app/server.js" > "$WORK/test-app.log" 2>&1 &
    pid=$!
    trap 'kill "$pid" 2>/dev/null || true' EXIT
    i=0
    until curl -fsS --max-time 1 "http://127.0.0.1:$TEST_PORT/health" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le 100 ] || die "the app did not answer /health within 10 s: $(cat "$WORK/test-app.log")"
        sleep 0.1
    done
    curl -fsS --max-time 5 "http://127.0.0.1:$TEST_PORT/health/deep" >/dev/null ||
        die "/health/deep failed"
    curl -fsS --max-time 5 "http://127.0.0.1:$TEST_PORT/version" | grep -q "\"version\":\"$VERSION\"" ||
        die "/version does not say $VERSION"
    kill -TERM "$pid"
    wait "$pid" || die "the app did not exit 0 after SIGTERM (drain)"
    trap - EXIT
    "$CUTOVER" local --check -l "$WORK/bundle" >/dev/null || die "cutover local --check refused the bundle"
    say "app answers /health, /health/deep and /version $VERSION; the bundle validates"
}

stage_package() {
    load
    pkg="$WORK/$APP-$VERSION.tgz"
    tar -czf "$pkg" -C "$WORK/bundle" .
    (cd "$WORK" && sha256sum "$(basename "$pkg")" > "$(basename "$pkg").sha256")
    "$CUTOVER" local --check -l "$pkg" >/dev/null || die "cutover local --check refused $pkg"
    put PACKAGE "$pkg"
    say "$pkg ($(cut -d' ' -f1 "$pkg.sha256"))"
}

stage_deploy() {
    load
    need_server
    [ -f "${PACKAGE:-}" ] || die "no package: run the package stage first"
    rev=$(deploy push --application-name "$APP" --source "$PACKAGE" --output table) ||
        die "push failed" $?
    put REVISION_ID "$rev"
    say "pushed $PACKAGE as $rev"
    if [ -n "$STAGING_GROUP" ]; then
        deploy create-deployment --application-name "$APP" --deployment-group-name "$STAGING_GROUP" \
            --revision "$rev" --description "pipeline $VERSION (staging)" \
            --wait --wait-timeout "$WAIT_TIMEOUT" --output table ||
            die "the staging deployment failed" $?
        say "staging runs $VERSION"
    fi
}

stage_switch() {
    load
    need_server
    [ -n "${REVISION_ID:-}" ] || die "no revision: run the deploy stage first"
    if [ "$YES" -ne 1 ]; then
        [ -t 0 ] || die "production needs the gate: run with --yes" 2
        printf 'Deploy %s (%s) to %s? [y/N] ' "$VERSION" "$REVISION_ID" "$PROD_GROUP"
        read -r answer
        [ "$answer" = y ] || [ "$answer" = Y ] || die "not confirmed"
    fi
    out=$(deploy create-deployment --application-name "$APP" --deployment-group-name "$PROD_GROUP" \
        --revision "$REVISION_ID" --description "pipeline $VERSION" \
        --wait --wait-timeout "$WAIT_TIMEOUT" --output table) || {
        rc=$?
        printf '%s\n' "$out"
        id=$(printf '%s\n' "$out" | sed -n '1s/^\(d-[A-Z0-9]*\).*/\1/p')
        [ -n "$id" ] && put DEPLOYMENT_ID "$id"
        die "the production deployment failed${id:+ ($id; cutover deploy get-deployment --deployment-id $id)}" "$rc"
    }
    printf '%s\n' "$out"
    id=$(printf '%s\n' "$out" | sed -n '1s/^\(d-[A-Z0-9]*\).*/\1/p')
    [ -n "$id" ] || die "no deployment id in the output of create-deployment"
    put DEPLOYMENT_ID "$id"
    say "production deployment $id succeeded"
}

stage_validate() {
    load
    need_server
    [ -n "${DEPLOYMENT_ID:-}" ] || die "no deployment: run the switch stage first"
    info=$(deploy get-deployment --deployment-id "$DEPLOYMENT_ID" --output json) || die "get-deployment failed" $?
    printf '%s' "$info" | grep -q '"status": *"Succeeded"' ||
        die "$DEPLOYMENT_ID did not succeed: $info"
    if printf '%s' "$info" | grep -q '"rollbackDeploymentId": *"d-'; then
        die "$DEPLOYMENT_ID was rolled back: $info"
    fi
    i=0
    until curl -fsS --max-time 5 "$PROD_URL/version" | grep -q "\"version\":\"$VERSION\""; do
        i=$((i + 1))
        [ "$i" -le 30 ] || die "$PROD_URL/version does not say $VERSION after 30 tries"
        sleep 1
    done
    say "$PROD_URL serves $VERSION ($DEPLOYMENT_ID)"
}

STAGES=""
for arg in "$@"; do
    case "$arg" in
    --yes | -y) YES=1 ;;
    -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
    build | test | package | deploy | switch | validate) STAGES="$STAGES $arg" ;;
    *) echo "pipeline.sh: unknown argument '$arg' (expected --yes or a stage: build test package deploy switch validate)" >&2; exit 2 ;;
    esac
done
[ -n "$STAGES" ] || STAGES="build test package deploy switch validate"
for STAGE in $STAGES; do
    "stage_$STAGE"
done
