#!/bin/sh
# Runs from the previous revision, with this deployment's DEPLOYMENT_ID.
echo "stopping the previous revision for $DEPLOYMENT_ID"
