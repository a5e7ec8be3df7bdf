"""``shotline events --follow PATTERN``: print events live, for operators and lab tools.

It binds its own exclusive, auto-deleted queue (a listener, not a work queue: it must vanish
with the listener rather than collect events nobody reads) and never touches the work queues.
"""

from __future__ import annotations

import json
import sys

import pika

from contracts.topology import EXCHANGE
from services.common.bus.connection import connection_parameters
from services.common.bus.declare import declare_exchanges, verify_exchanges
from services.common.runner import on_termination
from services.common.settings import CommonSettings, load_settings


def format_event(routing_key: str, type_name: str | None, body: bytes) -> str:
    """One JSON line per event: routing key, type and the event itself."""
    try:
        event = json.loads(body)
    except ValueError:
        event = {"undecodable": body[:200].decode(errors="replace")}
    return json.dumps({"routing_key": routing_key, "type": type_name, "event": event})


def follow(pattern: str, count: int = 0, settings: CommonSettings | None = None) -> int:
    settings = settings or load_settings(CommonSettings)
    connection = pika.BlockingConnection(connection_parameters(
        settings.amqp_url.get_secret_value(), "events.follow"))
    channel = connection.channel()
    # The observer user of the broker definitions may declare nothing but its own queue.
    (declare_exchanges if settings.declare_topology == "all" else verify_exchanges)(channel)
    tap = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
    channel.queue_bind(tap, EXCHANGE, pattern)
    print(f"# following {pattern!r} on {settings.vhost!r}", file=sys.stderr, flush=True)
    seen = 0
    stop = False

    def request_stop() -> None:
        nonlocal stop
        stop = True

    on_termination(request_stop)
    for method, props, body in channel.consume(tap, auto_ack=True, inactivity_timeout=0.5):
        if stop:
            break
        if method is None:
            continue
        print(format_event(method.routing_key, props.type, body), flush=True)
        seen += 1
        if count and seen >= count:
            break
    connection.close()
    return 0
