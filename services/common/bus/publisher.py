"""Confirmed, persistent, mandatory publishing of events; a blocking and an asyncio variant."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pika
import pika.exceptions as pex
import structlog

from contracts.events import Event, encode_event
from contracts.topology import EXCHANGE
from services.common.bus.connection import CONNECTION_ERRORS, close_quietly, connection_parameters
from services.common.bus.errors import PublishFailed
from services.common.metrics import PUBLISHED

log = structlog.get_logger(__name__)



def event_properties(event: Event, headers: dict[str, Any] | None = None) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=event.message_id,
        correlation_id=event.correlation_id,
        type=type(event).__name__,
        app_id=event.producer,
        timestamp=int(event.produced_at.timestamp()),
        headers={"x-shotline-job-id": event.job_id, **(headers or {})},
    )


class Publisher:
    """Blocking publisher with confirms; confined to the thread that uses it (pika's rule).

    ``publish`` returns only once the broker confirmed the message and routed it to at least
    one queue (``mandatory``: a confirm alone does not prove routing). Connection errors are
    retried ``attempts`` times with capped backoff, reconnecting each time; anything that still
    fails raises ``PublishFailed``: a publish is never logged and forgotten.
    """

    def __init__(self, amqp_url: str, name: str, *, attempts: int = 4, max_backoff: float = 2.0) -> None:
        self._params = connection_parameters(amqp_url, name)
        self._attempts = attempts
        self._max_backoff = max_backoff
        self._connection: pika.BlockingConnection | None = None
        self._channel: Any = None
        self._owner = threading.get_ident()

    def publish(self, event: Event, headers: dict[str, Any] | None = None) -> None:
        self.publish_raw(EXCHANGE, event.routing_key(), encode_event(event), event_properties(event, headers))
        PUBLISHED.labels(type(event).__name__).inc()

    def publish_raw(
        self, exchange: str, routing_key: str, body: bytes, properties: pika.BasicProperties
    ) -> None:
        """Publish bytes as they are (retry buffers, DLQ replay); same guarantees as ``publish``."""
        if threading.get_ident() != self._owner:
            raise RuntimeError("a Publisher belongs to the thread that created it")
        delay = 0.1
        for attempt in range(1, self._attempts + 1):
            try:
                channel = self._ensure_channel()
                channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)
                return
            except pex.UnroutableError as exc:
                raise PublishFailed(f"no queue is bound for {routing_key!r} on {exchange!r}") from exc
            except pex.NackError as exc:
                error: Exception = exc
            except CONNECTION_ERRORS as exc:
                error = exc
            self.close()
            if attempt < self._attempts:
                log.warning("publish_retry", routing_key=routing_key, attempt=attempt, error=repr(error))
                time.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
        raise PublishFailed(f"broker did not confirm {routing_key!r} after {self._attempts} attempts: {error!r}")

    def _ensure_channel(self) -> Any:
        if self._channel is None or not self._channel.is_open:
            if self._connection is None or not self._connection.is_open:
                self._connection = pika.BlockingConnection(self._params)
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
        return self._channel

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        close_quietly(connection)


class AsyncPublisher:
    """Publishing for asyncio code: a dedicated thread owns a ``Publisher``; awaiting never blocks
    the event loop. Several publishers (``threads``) keep confirms flowing in parallel."""

    def __init__(self, amqp_url: str, name: str, *, threads: int = 4) -> None:
        self._local = threading.local()
        self._amqp_url, self._name = amqp_url, name
        self._publishers: list[Publisher] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"{name}-publish")

    def _publisher(self) -> Publisher:
        publisher = getattr(self._local, "publisher", None)
        if publisher is None:
            publisher = Publisher(self._amqp_url, self._name, attempts=2)
            self._local.publisher = publisher
            with self._lock:
                self._publishers.append(publisher)
        return publisher

    async def publish(self, event: Event) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, lambda: self._publisher().publish(event))

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._close_all)

    def _close_all(self) -> None:
        # Once the executor's threads are gone nothing else touches the connections, so
        # closing them from this thread does not break pika's one-thread rule.
        self._executor.shutdown(wait=True)
        for publisher in self._publishers:
            publisher.close()
