"""Declares the topology of ``contracts.topology`` on a channel; safe to repeat."""

from __future__ import annotations

from collections.abc import Iterable

from pika.adapters.blocking_connection import BlockingChannel

from contracts.topology import DEAD_LETTER_EXCHANGE, EXCHANGE, QueueSpec


def declare_exchanges(channel: BlockingChannel) -> None:
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    channel.exchange_declare(DEAD_LETTER_EXCHANGE, exchange_type="direct", durable=True)


def declare_queues(channel: BlockingChannel, queues: Iterable[QueueSpec]) -> None:
    """Declare each work queue with its DLQ, its retry buffer and its bindings."""
    declare_exchanges(channel)
    for spec in queues:
        channel.queue_declare(
            spec.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        channel.queue_bind(spec.dead_letter_queue, DEAD_LETTER_EXCHANGE, spec.dead_letter_queue)
        channel.queue_declare(spec.retry_queue, durable=True, arguments=dict(spec.retry_arguments))
        channel.queue_declare(spec.name, durable=True, arguments=dict(spec.arguments))
        for pattern in spec.bindings:
            channel.queue_bind(spec.name, EXCHANGE, pattern)

