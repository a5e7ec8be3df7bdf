#!/usr/bin/env bash
# Make sure a RabbitMQ broker runs for local use, with the management and Prometheus plugins.
#   reachable at SHOTLINE_AMQP_URL          -> done
#   else an installed rabbitmq-server       -> start it
#   else root on Debian/Ubuntu              -> apt-get install rabbitmq-server, start it
#   else                                    -> print the exact command to run, exit 1
set -euo pipefail
URL="${SHOTLINE_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2F}"
HOSTPORT="${URL#*://}"; HOSTPORT="${HOSTPORT#*@}"; HOSTPORT="${HOSTPORT%%/*}"
HOST="${HOSTPORT%%:*}"; PORT="${HOSTPORT##*:}"; [ "$PORT" = "$HOST" ] && PORT=5672

reachable() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_port() {  # host port seconds
  for _ in $(seq 1 "$(( $3 * 5 ))"); do reachable "$1" "$2" && return 0; sleep 0.2; done; return 1
}
local_broker() { [ "$HOST" = 127.0.0.1 ] || [ "$HOST" = localhost ]; }

if ! reachable "$HOST" "$PORT"; then
  if ! local_broker; then
    echo "RabbitMQ at $HOST:$PORT is not reachable; start it there or point SHOTLINE_AMQP_URL elsewhere" >&2
    exit 1
  fi
  if ! command -v rabbitmq-server >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing rabbitmq-server with apt-get" >&2
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
    else
      echo "RabbitMQ is not installed. Run:  sudo apt-get install -y rabbitmq-server" >&2
      exit 1
    fi
  fi
  echo "starting rabbitmq-server" >&2
  rabbitmq-server -detached 2>/dev/null || true
  wait_port "$HOST" "$PORT" 60 || { echo "rabbitmq-server did not open $HOST:$PORT within 60 s" >&2; exit 1; }
fi

if local_broker && command -v rabbitmq-plugins >/dev/null; then
  rabbitmq-plugins enable --quiet rabbitmq_management rabbitmq_prometheus >/dev/null 2>&1 || \
    rabbitmq-plugins enable rabbitmq_management rabbitmq_prometheus >&2
  wait_port 127.0.0.1 15672 60 || { echo "management plugin did not open port 15672" >&2; exit 1; }
fi
echo "broker ready at $HOST:$PORT (management: http://$HOST:15672)" >&2
