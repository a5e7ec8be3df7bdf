"""Hooks around every message the consumer handles: bound log context and metrics.

Cross-cutting work lives here, not in handlers or in the loop (dramatiq's middleware): a hook's
``before`` runs on the route's worker thread before decoding, its ``after`` once the fate is
decided, in reverse order, whatever happened in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import structlog

from services.common.metrics import HANDLER_SECONDS, MESSAGES_CONSUMED, MESSAGES_SETTLED


@dataclass(frozen=True)
class Delivery:
    """One message as it arrived, before it is decoded."""

    queue: str
    routing_key: str
    message_id: str | None
    job_id: str | None
    type_name: str | None
    body: bytes
    headers: dict[str, object]
    redelivered: bool


class Hook(Protocol):
    def before(self, delivery: Delivery) -> None: ...

    def after(self, delivery: Delivery, fate: str, seconds: float) -> None: ...


class LogContext:
    """Binds ``queue``, ``routing_key``, ``message_id`` and ``job_id`` to every log line a
    handler writes, and unbinds them afterwards."""

    KEYS = ("queue", "routing_key", "message_id", "job_id")

    def before(self, delivery: Delivery) -> None:
        structlog.contextvars.bind_contextvars(
            queue=delivery.queue, routing_key=delivery.routing_key,
            message_id=delivery.message_id, job_id=delivery.job_id)

    def after(self, delivery: Delivery, fate: str, seconds: float) -> None:
        structlog.contextvars.unbind_contextvars(*self.KEYS)


class Metrics:
    """``shotline_messages_consumed_total``, ``shotline_messages_settled_total{fate}`` and
    ``shotline_handler_seconds``, labelled by queue."""

    def before(self, delivery: Delivery) -> None:
        MESSAGES_CONSUMED.labels(delivery.queue).inc()

    def after(self, delivery: Delivery, fate: str, seconds: float) -> None:
        HANDLER_SECONDS.labels(delivery.queue).observe(seconds)
        MESSAGES_SETTLED.labels(delivery.queue, fate).inc()


#: What every consumer runs unless told otherwise.
DEFAULT_HOOKS: tuple[Hook, ...] = (LogContext(), Metrics())
