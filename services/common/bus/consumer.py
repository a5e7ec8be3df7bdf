"""The consumer loop every service runs: decode, call a thin handler, ack after its side effect.

Threading follows pika's rule: the connection lives on the thread that calls ``run``; each route
has its own worker thread for the handler; acks travel back through
``add_callback_threadsafe``. Fates of a message:

* handler returns → ack;
* body undecodable or invalid, ``PermanentError``, or an unexpected exception → reject without
  requeue → the queue's ``.dlq`` (logged once, with the reason);
* ``TransientError`` → a copy goes to the queue's ``.retry`` buffer with a capped exponential
  delay, then the original is acked; after ``max_attempts`` it goes to the DLQ instead.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions as pex
import structlog

from contracts.events import Event, UndecodableEvent, decode_event
from contracts.topology import ATTEMPT_HEADER, QUEUES, QueueSpec
from services.common.bus.connection import CONNECTION_ERRORS, close_quietly, connection_parameters, keep_connected
from services.common.bus.declare import declare_queues
from services.common.bus.errors import PermanentError, PublishFailed, TransientError
from services.common.bus.publisher import Publisher
from services.common.metrics import HANDLER_SECONDS, MESSAGES_CONSUMED, MESSAGES_SETTLED

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class MessageContext:
    """What a handler may use besides the event: a publisher owned by its thread."""

    publisher: Publisher
    routing_key: str
    redelivered: bool
    attempt: int


Handler = Callable[[Event, MessageContext], None]


@dataclass(frozen=True)
class Route:
    queue: QueueSpec
    handler: Handler


class Consumer:
    """Consumes ``routes`` until ``stop()``; reconnects and re-declares after connection loss."""

    def __init__(
        self,
        amqp_url: str,
        service: str,
        routes: Sequence[Route],
        *,
        prefetch: int = 1,
        max_attempts: int = 6,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        declare: str = "all",
    ) -> None:
        self._amqp_url = amqp_url
        self._service = service
        self._routes = tuple(routes)
        self._prefetch = prefetch
        # "all": declare the whole topology, so every event has its queue even before its
        # consumer first ran (development, tests). "own": only this service's queues, for a
        # broker whose definitions created the rest and whose users may configure only their own.
        if declare not in ("all", "own"):
            raise ValueError(f"declare must be 'all' or 'own', not {declare!r}")
        self._declare = QUEUES if declare == "all" else tuple(r.queue for r in routes)
        self._max_attempts = max_attempts
        self._min_backoff, self._max_backoff = min_backoff, max_backoff
        self._stop = threading.Event()
        self.ready = threading.Event()  # set while consuming; tests and health checks wait on it
        self._workers = {r.queue.name: ThreadPoolExecutor(1, f"{service}-{r.queue.handler}") for r in self._routes}
        self._local = threading.local()
        self._inflight = 0
        self._inflight_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the loop to finish the messages in hand and return; callable from any thread."""
        self._stop.set()

    def run(self) -> None:
        keep_connected(self._consume_until_stopped, self._stop, self.ready, f"{self._service}.consumer")
        for worker in self._workers.values():
            worker.shutdown(wait=True)

    def _consume_until_stopped(self) -> None:
        params = connection_parameters(self._amqp_url, f"{self._service}.consumer")
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            declare_queues(channel, self._declare)
            channel.basic_qos(prefetch_count=self._prefetch)
            tags = [
                channel.basic_consume(
                    r.queue.name, functools.partial(self._on_message, connection, r)
                )
                for r in self._routes
            ]
            self.ready.set()
            log.info("consuming", queues=[r.queue.name for r in self._routes])
            while not self._stop.is_set():
                connection.process_data_events(time_limit=0.2)
            # Graceful stop: no new deliveries, finish what is in hand, ack it, then leave.
            for tag in tags:
                channel.basic_cancel(tag)
            while self._busy():
                connection.process_data_events(time_limit=0.05)
            connection.process_data_events(time_limit=0)
        finally:
            self.ready.clear()
            close_quietly(connection)

    def _busy(self) -> bool:
        with self._inflight_lock:
            return self._inflight > 0

    # -- per message -------------------------------------------------------------------------
    def _on_message(self, connection: Any, route: Route, channel: Any, method: Any,
                    properties: pika.BasicProperties, body: bytes) -> None:
        with self._inflight_lock:
            self._inflight += 1
        self._workers[route.queue.name].submit(
            self._handle, connection, channel, route, method, properties, body
        )

    def _handle(self, connection: Any, channel: Any, route: Route, method: Any,
                properties: pika.BasicProperties, body: bytes) -> None:
        structlog.contextvars.bind_contextvars(
            queue=route.queue.name, routing_key=method.routing_key,
            message_id=properties.message_id, job_id=properties.correlation_id,
        )
        fate = "requeue"
        MESSAGES_CONSUMED.labels(route.queue.name).inc()
        try:
            with HANDLER_SECONDS.labels(route.queue.name).time():
                fate = self._decide(route, method, properties, body)
        finally:
            structlog.contextvars.unbind_contextvars("queue", "routing_key", "message_id", "job_id")
            # Settle before leaving "in flight", so a graceful stop still sends this ack.
            self._settle(connection, channel, method.delivery_tag, fate)
            MESSAGES_SETTLED.labels(route.queue.name, fate).inc()
            with self._inflight_lock:
                self._inflight -= 1

    def _decide(self, route: Route, method: Any, properties: pika.BasicProperties, body: bytes) -> str:
        """Run the handler; return 'ack', 'retry' (a copy waits in the retry buffer; the
        original is acked), 'dead' or 'requeue'."""
        try:
            event = decode_event(properties.type, body)
        except UndecodableEvent as exc:
            log.error("message_dead_lettered", reason=str(exc)[:2000])
            return "dead"
        key = self._original_routing_key(route, method, properties)
        if key != event.routing_key():
            # A valid event under another event's routing key (misrouted or forged): its handler
            # must never see it, e.g. a ShotArchived must not cancel a job.
            log.error("message_dead_lettered", reason=f"{type(event).__name__} of backend "
                      f"{event.backend!r} does not belong on routing key {key!r}")
            return "dead"
        attempt = int((properties.headers or {}).get(ATTEMPT_HEADER, 0))
        ctx = MessageContext(self._publisher(), key, bool(method.redelivered), attempt)
        started = time.perf_counter()
        try:
            route.handler(event, ctx)
        except (TransientError, PublishFailed) as exc:
            # A publish the broker did not confirm is the broker's trouble, not the message's:
            # retry it like any transient failure (a handler's side effects are idempotent).
            return self._retry_later(route, key, properties, body, attempt, exc)
        except PermanentError as exc:
            log.error("message_dead_lettered", reason=str(exc)[:2000])
            return "dead"
        except Exception as exc:  # a bug: park the message, keep the service alive
            log.exception("handler_crashed", reason=repr(exc)[:2000])
            return "dead"
        log.debug("handled", seconds=round(time.perf_counter() - started, 4))
        return "ack"

    @staticmethod
    def _original_routing_key(route: Route, method: Any, properties: pika.BasicProperties) -> str:
        """The key the event was published with. A retried message comes back from its retry
        buffer through the default exchange, keyed by the queue's name; its original key
        travels in a header."""
        if method.routing_key == route.queue.name:
            return str((properties.headers or {}).get("x-shotline-routing-key", method.routing_key))
        return method.routing_key

    def _retry_later(self, route: Route, key: str, properties: pika.BasicProperties,
                     body: bytes, attempt: int, exc: Exception) -> str:
        attempt += 1
        if attempt >= self._max_attempts:
            log.error("message_dead_lettered", reason=f"gave up after {attempt} attempts: {exc}")
            return "dead"
        delay = min(self._min_backoff * 2 ** (attempt - 1), self._max_backoff)
        props = pika.BasicProperties(
            content_type=properties.content_type, delivery_mode=pika.DeliveryMode.Persistent,
            message_id=properties.message_id, correlation_id=properties.correlation_id,
            type=properties.type, app_id=properties.app_id, timestamp=properties.timestamp,
            headers={**(properties.headers or {}), ATTEMPT_HEADER: attempt,
                     "x-shotline-routing-key": key},
            expiration=str(int(delay * 1000)),
        )
        try:
            self._publisher().publish_raw("", route.queue.retry_queue, body, props)
        except PublishFailed as publish_error:
            log.warning("retry_buffer_unavailable", error=str(publish_error))
            return "requeue"
        log.warning("handler_retry_scheduled", attempt=attempt, delay_s=delay, reason=str(exc)[:500])
        return "retry"  # settled as an ack: the copy in the retry buffer carries on

    def _publisher(self) -> Publisher:
        publisher = getattr(self._local, "publisher", None)
        if publisher is None:
            publisher = self._local.publisher = Publisher(self._amqp_url, f"{self._service}.publisher")
        return publisher

    def _settle(self, connection: Any, channel: Any, tag: int, fate: str) -> None:
        def settle() -> None:
            if not channel.is_open:
                return  # the broker requeued it when the channel closed; it comes back
            if fate in ("ack", "retry"):
                channel.basic_ack(tag)
            else:
                # basic_reject rather than nack: on RabbitMQ 4.3 only rejects count towards
                # the quorum queue's delivery-limit, and 3.10 behaves the same either way.
                channel.basic_reject(tag, requeue=(fate == "requeue"))

        try:
            connection.add_callback_threadsafe(settle)
        except CONNECTION_ERRORS + (pex.ConnectionWrongStateError,):
            log.warning("ack_lost_with_connection", fate=fate)
