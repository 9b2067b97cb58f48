#!/bin/sh
echo "$DEPLOYMENT_ID" > /tmp/cutover-hello/www/version.txt
echo "started $DEPLOYMENT_ID"
