#!/usr/bin/env bash
# Start every service with a demo user; used by `make up`.
set -euo pipefail
BIN=.venv/bin
export SHOTLINE_HOME="${SHOTLINE_HOME:-$PWD/var}"
PORT="${SHOTLINE_HTTP_PORT:-8080}"
TOKEN=""
if $BIN/python -c 'import services.ingest.users_cli' 2>/dev/null; then
  # `users add` prints the token as its last line; for an existing user, rotate it.
  TOKEN=$($BIN/shotline users add demo 2>/dev/null | tail -n1) || TOKEN=$($BIN/shotline users token demo | tail -n1)
fi
cat <<MSG
================================================================
 shotline API:   http://127.0.0.1:${PORT}/api/v2/backends
 API docs:       http://127.0.0.1:${PORT}/api/v2/docs
 demo token:     ${TOKEN:-<ingest not installed yet>}
 events:         $BIN/shotline events --follow '#'
 RabbitMQ UI:    http://127.0.0.1:15672 (guest/guest)
================================================================
MSG
exec $BIN/shotline up
