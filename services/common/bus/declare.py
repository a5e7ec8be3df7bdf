"""Declares the topology of ``contracts.topology`` on a channel, or checks that it exists."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pika.adapters.blocking_connection import BlockingChannel

from contracts.topology import DEAD_LETTER_EXCHANGE, EXCHANGE, RETRY_EXCHANGES, QueueSpec

#: "all" declares (development, tests: the whole topology exists before its consumers ran);
#: "verify" only checks that the queues exist, on a broker whose definitions created them and
#: whose service users may declare nothing (declaring a queue needs write permission on its
#: dead-letter exchange, which no service user has).
DeclareMode = Literal["all", "verify"]


def declare_exchanges(channel: BlockingChannel) -> None:
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    channel.exchange_declare(DEAD_LETTER_EXCHANGE, exchange_type="direct", durable=True)
    for name in RETRY_EXCHANGES:
        channel.exchange_declare(name, exchange_type="direct", durable=True)


def declare_queues(channel: BlockingChannel, queues: Iterable[QueueSpec]) -> None:
    """Declare each work queue with its DLQ, its retry buffer and their bindings; safe to repeat."""
    declare_exchanges(channel)
    for spec in queues:
        channel.queue_declare(
            spec.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        channel.queue_bind(spec.dead_letter_queue, DEAD_LETTER_EXCHANGE, spec.dead_letter_queue)
        channel.queue_declare(spec.retry_queue, durable=True, arguments=dict(spec.retry_arguments))
        channel.queue_bind(spec.retry_queue, spec.retry_exchange, spec.retry_queue)
        channel.queue_declare(spec.name, durable=True, arguments=dict(spec.arguments))
        for pattern in spec.bindings:
            channel.queue_bind(spec.name, EXCHANGE, pattern)


def verify_exchanges(channel: BlockingChannel) -> None:
    """Raise ``ChannelClosedByBroker`` (404) unless every exchange exists; needs no permission."""
    for name in (EXCHANGE, DEAD_LETTER_EXCHANGE, *RETRY_EXCHANGES):
        channel.exchange_declare(name, passive=True)


def verify_queues(channel: BlockingChannel, queues: Iterable[QueueSpec]) -> None:
    """Raise ``ChannelClosedByBroker`` (404) unless each queue, its DLQ and its retry buffer exist."""
    verify_exchanges(channel)
    for spec in queues:
        for name in (spec.name, spec.dead_letter_queue, spec.retry_queue):
            channel.queue_declare(name, passive=True)


def set_up(channel: BlockingChannel, mode: DeclareMode, queues: Iterable[QueueSpec]) -> None:
    """Declare ``queues`` or verify them, as ``mode`` says."""
    if mode == "all":
        declare_queues(channel, queues)
    else:
        verify_queues(channel, queues)
