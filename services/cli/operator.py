"""Operator tools: declare the topology, show or replay a dead-letter queue."""

from __future__ import annotations

import json
import sys

import pika

from contracts.topology import EXCHANGE, QUEUES, queue
from services.common.bus.connection import connection_parameters
from services.common.bus.declare import declare_queues
from services.common.bus.publisher import Publisher
from services.common.settings import CommonSettings, load_settings


def declare_topology(settings: CommonSettings | None = None) -> int:
    settings = settings or load_settings(CommonSettings)
    connection = pika.BlockingConnection(connection_parameters(settings.amqp_url, "operator"))
    declare_queues(connection.channel(), QUEUES)
    connection.close()
    print(f"declared {len(QUEUES)} work queues with their DLQs on vhost {settings.vhost!r}")
    return 0


def dead_letters(action: str, queue_name: str, count: int, settings: CommonSettings | None = None) -> int:
    """``show`` prints dead letters and leaves them; ``replay`` republishes them to the events
    exchange under their original routing key (with confirms) and removes them from the DLQ."""
    settings = settings or load_settings(CommonSettings)
    try:
        spec = queue(queue_name)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    connection = pika.BlockingConnection(connection_parameters(settings.amqp_url, "operator"))
    channel = connection.channel()
    publisher = Publisher(settings.amqp_url, "operator") if action == "replay" else None
    handled = 0
    try:
        while handled < count:
            method, props, body = channel.basic_get(spec.dead_letter_queue, auto_ack=False)
            if method is None:
                break
            death = ((props.headers or {}).get("x-death") or [{}])[0]
            keys = death.get("routing-keys") or [method.routing_key]
            original_key = (props.headers or {}).get("x-shotline-routing-key") or keys[0]
            print(json.dumps({
                "type": props.type, "message_id": props.message_id, "routing_key": original_key,
                "reason": death.get("reason"), "count": death.get("count"),
                "body": body[:2000].decode(errors="replace"),
            }))
            if publisher is not None:
                headers = {k: v for k, v in (props.headers or {}).items() if not k.startswith("x-")}
                replayed = pika.BasicProperties(
                    content_type=props.content_type, delivery_mode=2, message_id=props.message_id,
                    correlation_id=props.correlation_id, type=props.type, app_id=props.app_id,
                    timestamp=props.timestamp, headers=headers)
                publisher.publish_raw(EXCHANGE, original_key, body, replayed)
                channel.basic_ack(method.delivery_tag)
            # "show" keeps every message unacked, so the next basic_get sees the next one;
            # closing the connection hands them all back to the DLQ in order.
            handled += 1
    finally:
        if publisher is not None:
            publisher.close()
        connection.close()
    print(f"# {action}: {handled} message(s) from {spec.dead_letter_queue}", file=sys.stderr)
    return 0
