"""The one consumer loop every service runs: decode, call a typed handler, ack after its effect.

Threading follows pika's rule: the connection lives on the thread that calls ``run``; each route
has its own channel (its own prefetch, so a held message blocks only its route) and its own
worker thread for the handler; acks travel back through ``add_callback_threadsafe``. One
reconnect loop (``keep_connected``) serves every route. Fates of a message:

* handler returns → ack;
* body undecodable or invalid, a routing key that is not the event's own, an event class the
  route does not accept, ``PermanentError``, or an unexpected exception → reject without
  requeue → the queue's ``.dlq`` (logged once, with the reason; a listener has no DLQ, so the
  message is dropped);
* ``TransientError`` or ``PublishFailed`` → a copy goes through the service's own retry exchange
  to the queue's ``.retry`` buffer with a capped exponential delay, then the original is acked;
  after ``max_attempts`` it goes to the DLQ instead (a listener's message is requeued to it);
* a gated route whose gate is shut *holds* its next message unacked and unprocessed, and hands
  it back (requeue) after ``hold_limit_s``; stopping hands held messages back too.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions as pex
import structlog

from contracts.events import UndecodableEvent, decode_event
from contracts.topology import ATTEMPT_HEADER, EXCHANGE, QUEUES, QueueSpec
from services.common.bus.connection import CONNECTION_ERRORS, close_quietly, connection_parameters, keep_connected
from services.common.bus.context import HandlerContext
from services.common.bus.declare import DeclareMode, declare_exchanges, set_up, verify_exchanges
from services.common.bus.errors import PermanentError, PublishFailed, TransientError
from services.common.bus.hooks import DEFAULT_HOOKS, Delivery, Hook
from services.common.bus.publisher import Publisher
from services.common.bus.routes import Route

log = structlog.get_logger(__name__)


@dataclass
class _Held:
    route: Route
    channel: Any
    method: Any
    properties: pika.BasicProperties
    body: bytes
    since: float


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
        declare: DeclareMode = "all",
        hooks: Sequence[Hook] = DEFAULT_HOOKS,
    ) -> None:
        self._amqp_url = amqp_url
        self._service = service
        self._routes = tuple(routes)
        self._prefetch = prefetch
        # "all": declare the whole topology, so every event has its queue even before its
        # consumer first ran (development, tests). "verify": check that this service's own
        # queues exist, on a broker whose definitions created them all.
        if declare not in ("all", "verify"):
            raise ValueError(f"declare must be 'all' or 'verify', not {declare!r}")
        own = tuple(r.queue for r in self._routes if isinstance(r.queue, QueueSpec))
        self._declare_mode: DeclareMode = declare
        self._declare = QUEUES if declare == "all" else own
        self._max_attempts = max_attempts
        self._min_backoff, self._max_backoff = min_backoff, max_backoff
        self._hooks = tuple(hooks)
        self._stop = threading.Event()
        self.ready = threading.Event()  # set while consuming; tests and health checks wait on it
        self.renewals = 0  # holds handed back at their limit (observability, tests)
        self._workers = {r.name: ThreadPoolExecutor(1, f"{service}-{r.queue.handler}")
                         for r in self._routes}
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
        connection = pika.BlockingConnection(
            connection_parameters(self._amqp_url, f"{self._service}.consumer"))
        held: dict[str, _Held] = {}
        try:
            set_up(connection.channel(), self._declare_mode, self._declare)
            subscriptions = [self._subscribe(connection, route, held) for route in self._routes]
            self.ready.set()
            log.info("consuming", queues=[r.name for r in self._routes])
            while not self._stop.is_set():
                connection.process_data_events(time_limit=0.05 if held else 0.2)
                self._admit_held(connection, held)
            # Graceful stop: no new deliveries, held ones back to the queue (for a standby),
            # finish what is in hand, ack it, then leave.
            for channel, tag in subscriptions:
                channel.basic_cancel(tag)
            for hold in held.values():
                hold.channel.basic_reject(hold.method.delivery_tag, requeue=True)
            held.clear()
            while self._busy():
                connection.process_data_events(time_limit=0.05)
            connection.process_data_events(time_limit=0)
        finally:
            self.ready.clear()
            close_quietly(connection)

    def _subscribe(self, connection: Any, route: Route, held: dict[str, _Held]) -> tuple[Any, str]:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=1 if route.gate else (route.prefetch or self._prefetch))
        queue_name = route.name
        if route.listener:
            (declare_exchanges if self._declare_mode == "all" else verify_exchanges)(channel)
            queue_name = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
            for pattern in route.queue.bindings:
                channel.queue_bind(queue_name, EXCHANGE, pattern)
        tag = channel.basic_consume(queue_name, functools.partial(self._on_message, connection, route, held))
        if route.on_connected is not None:
            self._workers[route.name].submit(route.on_connected)
        return channel, tag

    def _busy(self) -> bool:
        with self._inflight_lock:
            return self._inflight > 0

    # -- admission ---------------------------------------------------------------------------
    def _on_message(self, connection: Any, route: Route, held: dict[str, _Held], channel: Any,
                    method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        if route.gate is not None and not route.gate():
            held[route.name] = _Held(route, channel, method, properties, body, time.monotonic())
            return
        self._dispatch(connection, channel, route, method, properties, body)

    def _admit_held(self, connection: Any, held: dict[str, _Held]) -> None:
        for name, hold in list(held.items()):
            assert hold.route.gate is not None
            if hold.route.gate():
                del held[name]
                self._dispatch(connection, hold.channel, hold.route, hold.method, hold.properties, hold.body)
            elif time.monotonic() - hold.since > hold.route.hold_limit_s:
                # Hand it back before the broker's consumer timeout would; it returns to this
                # consumer at once (single active consumer) and the hold starts over.
                del held[name]
                hold.channel.basic_reject(hold.method.delivery_tag, requeue=True)
                self.renewals += 1
                log.info("hold_renewed", queue=name, held_s=round(time.monotonic() - hold.since))

    def _dispatch(self, connection: Any, channel: Any, route: Route, method: Any,
                  properties: pika.BasicProperties, body: bytes) -> None:
        with self._inflight_lock:
            self._inflight += 1
        self._workers[route.name].submit(self._handle, connection, channel, route, method, properties, body)

    # -- per message -------------------------------------------------------------------------
    def _handle(self, connection: Any, channel: Any, route: Route, method: Any,
                properties: pika.BasicProperties, body: bytes) -> None:
        delivery = Delivery(route.name, method.routing_key, properties.message_id,
                            properties.correlation_id, properties.type, body,
                            dict(properties.headers or {}), bool(method.redelivered))
        started = time.perf_counter()
        fate = "requeue"
        for hook in self._hooks:
            hook.before(delivery)
        try:
            fate = self._decide(route, delivery, properties)
        finally:
            # Settle before leaving "in flight", so a graceful stop still sends this ack.
            self._settle(connection, channel, method.delivery_tag, fate)
            for hook in reversed(self._hooks):
                hook.after(delivery, fate, time.perf_counter() - started)
            with self._inflight_lock:
                self._inflight -= 1

    def _decide(self, route: Route, delivery: Delivery, properties: pika.BasicProperties) -> str:
        """Run the handler; return 'ack', 'retry' (a copy waits in the retry buffer; the
        original is acked), 'dead' or 'requeue'."""
        try:
            event = decode_event(delivery.type_name, delivery.body)
        except UndecodableEvent as exc:
            return self._dead(route, str(exc))
        misrouted = route.misrouted(delivery.routing_key, event)
        if misrouted:
            return self._dead(route, misrouted)
        handler = route.handler_for(event)
        if handler is None:
            return self._dead(route, f"{type(event).__name__} is not handled on {route.name}")
        attempt = int(delivery.headers.get(ATTEMPT_HEADER, 0))  # type: ignore[call-overload]
        ctx = HandlerContext.of(event, self._publisher(), self._service,
                                routing_key=event.routing_key(),
                                redelivered=delivery.redelivered, attempt=attempt)
        try:
            handler(event, ctx)
        except (TransientError, PublishFailed) as exc:
            # A publish the broker did not confirm is the broker's trouble, not the message's:
            # retry it like any transient failure (a handler's side effects are idempotent).
            if route.listener:
                log.warning("listener_requeued", reason=str(exc))
                return "requeue"
            return self._retry_later(route, properties, delivery.body, attempt, exc)
        except PermanentError as exc:
            return self._dead(route, str(exc))
        except Exception as exc:  # a bug: park the message, keep the service alive
            log.exception("handler_crashed", reason=repr(exc)[:2000])
            return "dead"
        return "ack"

    @staticmethod
    def _dead(route: Route, reason: str) -> str:
        log.error("message_dropped" if route.listener else "message_dead_lettered", reason=reason[:2000])
        return "dead"

    def _retry_later(self, route: Route, properties: pika.BasicProperties,
                     body: bytes, attempt: int, exc: Exception) -> str:
        assert isinstance(route.queue, QueueSpec)
        attempt += 1
        if attempt >= self._max_attempts:
            return self._dead(route, f"gave up after {attempt} attempts: {exc}")
        delay = min(self._min_backoff * 2 ** (attempt - 1), self._max_backoff)
        props = pika.BasicProperties(
            content_type=properties.content_type, delivery_mode=pika.DeliveryMode.Persistent,
            message_id=properties.message_id, correlation_id=properties.correlation_id,
            type=properties.type, app_id=properties.app_id, timestamp=properties.timestamp,
            headers={**(properties.headers or {}), ATTEMPT_HEADER: attempt},
            expiration=str(int(delay * 1000)),
        )
        try:
            self._publisher().publish_raw(
                route.queue.retry_exchange, route.queue.retry_queue, body, props)
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
