"""Operator tools: declare the topology, show or replay a dead-letter queue."""

from __future__ import annotations

import json
import sys

import pika

from contracts.events import UndecodableEvent, decode_event
from contracts.topology import EXCHANGE, QUEUES, queue
from services.common.bus.connection import connection_parameters
from services.common.bus.declare import declare_queues
from services.common.bus.publisher import Publisher
from services.common.settings import CommonSettings, load_settings


def declare_topology(settings: CommonSettings | None = None) -> int:
    settings = settings or load_settings(CommonSettings)
    connection = pika.BlockingConnection(connection_parameters(
        settings.amqp_url.get_secret_value(), "operator"))
    declare_queues(connection.channel(), QUEUES)
    connection.close()
    print(f"declared {len(QUEUES)} work queues with their DLQs on vhost {settings.vhost!r}")
    return 0


def replay_key(props: pika.BasicProperties, body: bytes) -> str:
    """The routing key a dead letter is replayed under: its event's own, computed from the
    decoded body (type and backend), never from a header its sender could set.

    Raises:
        UndecodableEvent: the body is not a valid event.
    """
    return decode_event(props.type, body).routing_key()


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (a validation error spans several), clipped to ``limit``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def dead_letters(action: str, queue_name: str, count: int, settings: CommonSettings | None = None) -> int:
    """``show`` prints dead letters and leaves them; ``replay`` republishes each to the events
    exchange under its event's routing key (with confirms) and removes it from the DLQ. A dead
    letter that does not decode stays in the DLQ, with one line on stderr, and the exit code
    is 2."""
    settings = settings or load_settings(CommonSettings)
    try:
        spec = queue(queue_name)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    connection = pika.BlockingConnection(connection_parameters(
        settings.amqp_url.get_secret_value(), "operator"))
    channel = connection.channel()
    publisher = Publisher(
        settings.amqp_url.get_secret_value(), "operator") if action == "replay" else None
    handled = kept = 0
    try:
        while handled < count:
            method, props, body = channel.basic_get(spec.dead_letter_queue, auto_ack=False)
            if method is None:
                break
            handled += 1
            death = ((props.headers or {}).get("x-death") or [{}])[0]
            try:
                key, error = replay_key(props, body), None
            except UndecodableEvent as exc:
                key, error = None, one_line(str(exc))
            print(json.dumps({
                "type": props.type, "message_id": props.message_id, "routing_key": key,
                "reason": death.get("reason"), "count": death.get("count"),
                **({"error": error} if error else {}),
                "body": body[:2000].decode(errors="replace"),
            }))
            # An unacked message (shown, or not replayable) is not seen again by the next
            # basic_get; closing the connection hands them all back to the DLQ in order.
            if publisher is None:
                continue
            if key is None:
                print(f"error: {props.message_id} stays in {spec.dead_letter_queue}: {error}",
                      file=sys.stderr)
                kept += 1
                continue
            headers = {k: v for k, v in (props.headers or {}).items() if not k.startswith("x-")}
            replayed = pika.BasicProperties(
                content_type=props.content_type, delivery_mode=2, message_id=props.message_id,
                correlation_id=props.correlation_id, type=props.type, app_id=props.app_id,
                timestamp=props.timestamp, headers=headers)
            publisher.publish_raw(EXCHANGE, key, body, replayed)
            channel.basic_ack(method.delivery_tag)
    finally:
        if publisher is not None:
            publisher.close()
        connection.close()
    print(f"# {action}: {handled - kept} message(s) from {spec.dead_letter_queue}"
          + (f", {kept} left in it" if kept else ""), file=sys.stderr)
    return 2 if kept else 0
