#!/bin/sh
grep -q "$DEPLOYMENT_ID" /tmp/cutover-hello/www/version.txt
