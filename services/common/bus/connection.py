"""Connection parameters from a ``SHOTLINE_AMQP_URL``, named after the service for operators."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pika
import pika.exceptions as pex
import structlog

log = structlog.get_logger(__name__)

#: What a lost or refused broker connection raises in pika's blocking adapter.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    pex.AMQPConnectionError, pex.AMQPChannelError, pex.StreamLostError, OSError,
)


def connection_parameters(amqp_url: str, name: str) -> pika.URLParameters:
    """Parameters for ``amqp_url`` with a client-provided name shown in the management UI.

    Heartbeats of 15 s (RabbitMQ advises 5-20 s) notice a dead broker in ~30 s instead of the
    TCP default of ~11 min; ``blocked_connection_timeout`` keeps a publisher from hanging
    forever when the broker blocks on a memory or disk alarm.
    """
    params = pika.URLParameters(amqp_url)
    params.client_properties = {"connection_name": name, "product": "shotline"}
    params.heartbeat = 15
    params.blocked_connection_timeout = 60
    params.connection_attempts = 1
    params.socket_timeout = 5
    return params


def keep_connected(session: Callable[[], None], stop: threading.Event, ready: threading.Event,
                   what: str) -> None:
    """Run ``session`` (connect, consume until ``stop``) again and again until ``stop``: after a
    lost connection, or while the broker is down, wait with capped backoff and reconnect."""
    delay = 0.2
    while not stop.is_set():
        try:
            session()
            delay = 0.2
        except CONNECTION_ERRORS as exc:
            ready.clear()
            log.warning("broker_unavailable", part=what, error=repr(exc), retry_in_s=delay)
            stop.wait(delay)
            delay = min(delay * 2, 5.0)


def close_quietly(connection: pika.BlockingConnection | None) -> None:
    """Close a connection that may already be gone (the broker restarted, the socket died)."""
    if connection is not None and connection.is_open:
        try:
            connection.close()
        except CONNECTION_ERRORS:
            pass
