#!/bin/sh
test -f /tmp/cutover-hello/www/index.html || { echo "index.html missing" >&2; exit 1; }
echo "installed: $(wc -c < /tmp/cutover-hello/www/index.html) bytes"
