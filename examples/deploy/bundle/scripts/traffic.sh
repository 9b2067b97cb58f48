#!/bin/sh
# BeforeAllowTraffic / AfterAllowTraffic / BeforeBlockTraffic / AfterBlockTraffic: log only.
. "$(dirname "$0")/common.sh"
echo "$LIFECYCLE_EVENT on $NAME ($CUTOVER_TARGET) for $DEPLOYMENT_ID, $VERSION"
