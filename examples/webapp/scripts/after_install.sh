#!/bin/sh
# AfterInstall: turn what Install copied into a release directory of its own (so the running
# workers keep their files and a rollback is a symlink away), install the nginx server block
# and reload nginx if it changed, and prune old releases.
set -eu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

rel="$WEBAPP_HOME/releases/$DEPLOYMENT_ID"
rm -rf "$rel.tmp"
mkdir -p "$rel.tmp"
cp -R "$WEBAPP_HOME/incoming/app/." "$rel.tmp/"
rm -rf "$rel"
mv "$rel.tmp" "$rel"
say "release $rel: version $(cat "$rel/VERSION")"

if nginx_enabled; then
    site_new="$BUNDLE/config/nginx/webapp.conf"
    if cmp -s "$site_new" "$NGINX_SITE"; then
        say "nginx: $NGINX_SITE unchanged, no reload"
    else
        mkdir -p "$(dirname "$NGINX_SITE")"
        backup=""
        if [ -f "$NGINX_SITE" ]; then
            backup="$NGINX_SITE.previous"
            cp -p "$NGINX_SITE" "$backup"
        fi
        cp "$site_new" "$NGINX_SITE.tmp"
        mv "$NGINX_SITE.tmp" "$NGINX_SITE"
        if ! out=$(nginx_cmd -t 2>&1); then
            # Put the previous block back: nginx keeps running the old config untouched.
            if [ -n "$backup" ]; then mv "$backup" "$NGINX_SITE"; else rm -f "$NGINX_SITE"; fi
            die "nginx -t refused the new server block, previous one restored: $out"
        fi
        nginx_cmd -s reload
        say "nginx: installed $NGINX_SITE and reloaded"
    fi
fi

# Keep the newest $KEEP_RELEASES releases; never the one the workers run now.
current=$(readlink "$WEBAPP_HOME/current" 2>/dev/null || true)
# shellcheck disable=SC2012  # release names are deployment ids: ls -t is safe and simplest
ls -1t "$WEBAPP_HOME/releases" | tail -n +"$((KEEP_RELEASES + 1))" | while read -r old; do
    [ "$WEBAPP_HOME/releases/$old" = "$current" ] && continue
    rm -rf "${WEBAPP_HOME:?}/releases/$old"
    say "pruned release $old"
done
