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
# The token goes to the terminal only, never into a log that stdout may be redirected to:
# without a terminal it is written to a file only its owner can read.
SHOWN="${TOKEN:-<ingest not installed yet>}"
if [ -n "$TOKEN" ] && [ ! -t 1 ]; then
  if { printf ' shotline demo token: %s\n' "$TOKEN" > /dev/tty; } 2>/dev/null; then
    SHOWN="<shown on the terminal, not in this output>"
  else
    mkdir -p "$SHOTLINE_HOME"
    (umask 077 && printf '%s\n' "$TOKEN" > "$SHOTLINE_HOME/demo-token")
    SHOWN="<in $SHOTLINE_HOME/demo-token (mode 0600): stdout is not a terminal>"
  fi
fi
cat <<MSG
================================================================
 shotline API:   http://127.0.0.1:${PORT}/api/v2/backends
 API docs:       http://127.0.0.1:${PORT}/api/v2/docs
 demo token:     ${SHOWN}
 events:         $BIN/shotline events --follow '#'
 RabbitMQ UI:    http://127.0.0.1:15672 (guest/guest)
================================================================
MSG
exec $BIN/shotline up
