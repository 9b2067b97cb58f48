#!/bin/sh
# ValidateService: the app answers its health check; VALIDATE_EXIT in release.env lets a
# release fail here on purpose (the e2e tests do).
. "$(dirname "$0")/common.sh"
probe /health || { echo "health check on port $PORT failed"; exit 1; }
if [ "$VALIDATE_EXIT" != 0 ]; then
    echo "validation of $VERSION failed on purpose (VALIDATE_EXIT=$VALIDATE_EXIT)"
    exit "$VALIDATE_EXIT"
fi
echo "validated $VERSION on port $PORT"
