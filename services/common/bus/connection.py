"""Connection parameters from a ``SHOTLINE_AMQP_URL``, named after the service for operators."""

from __future__ import annotations

import pika


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
