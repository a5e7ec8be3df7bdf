"""Taking jobs off ``SPOOLER_JOBS`` only while there is room: bounded look-ahead, short acks.

A job is acked as soon as it is compiled and recorded in the spooler's durable book, so no
message is held for the length of a run. When the book is full (the running job plus the
look-ahead), the next delivered job is *held*: not processed and not acked, which with prefetch 1
keeps every later job a ready message in the queue. The consumer stays registered throughout,
so single-active-consumer keeps a standby spooler waiting instead of handing it the queue.
A hold never outlasts ``hold_limit_s`` (kept below the broker's consumer timeout): the job is
then handed back (reject + requeue) and comes back to this consumer, which is why the jobs queue
has a generous delivery limit (``contracts.topology``). On RabbitMQ 3.x a requeued message goes
to the *back* of a quorum queue, so a renewal (or a spooler stop) moves the held job behind the
others: deploy/rabbitmq/rabbitmq.conf raises the consumer timeout so renewals stay rare.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pika
import structlog

from contracts.events import JobSubmitted, UndecodableEvent, decode_event
from contracts.topology import SPOOLER_JOBS
from services.common.bus import PermanentError, Publisher, TransientError
from services.common.bus.connection import close_quietly, connection_parameters, keep_connected
from services.common.bus.declare import declare_queues
from services.common.metrics import metered

log = structlog.get_logger(__name__)

JobHandler = Callable[[JobSubmitted, Publisher], None]


class JobIntake:
    """Consumes job submissions one at a time while ``has_room()``; ``run`` blocks until ``stop``."""

    def __init__(self, amqp_url: str, handler: JobHandler, has_room: Callable[[], bool],
                 hold_limit_s: float = 1500.0) -> None:
        self._amqp_url = amqp_url
        self._hold_limit_s = hold_limit_s
        self.renewals = 0  # holds handed back at the limit (observability, tests)
        self._metered = metered(self._process, SPOOLER_JOBS.name)
        self._handler = handler
        self._has_room = has_room
        self._stop = threading.Event()
        self.ready = threading.Event()
        self._worker = ThreadPoolExecutor(1, "spooler-intake")
        self._local = threading.local()
        # Set by pika's callback on the connection thread, taken by the same thread's loop.
        self._delivered: tuple[Any, pika.BasicProperties, bytes] | None = None

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        keep_connected(self._consume, self._stop, self.ready, "spooler.intake")
        self._worker.shutdown(wait=True)

    def _consume(self) -> None:
        connection = pika.BlockingConnection(connection_parameters(self._amqp_url, "spooler.intake"))
        try:
            channel = connection.channel()
            declare_queues(channel, [SPOOLER_JOBS])
            channel.basic_qos(prefetch_count=1)
            channel.basic_consume(SPOOLER_JOBS.name, self._deliver)
            held: tuple[Any, pika.BasicProperties, bytes, float] | None = None
            inflight: tuple[Any, Future[str]] | None = None
            self.ready.set()
            while not self._stop.is_set() or inflight is not None:
                connection.process_data_events(time_limit=0.05 if inflight else 0.2)
                if held is None and self._delivered is not None:
                    held = (*self._delivered, time.monotonic())
                    self._delivered = None
                if inflight is None and held is not None and not self._stop.is_set():
                    method, properties, body, since = held
                    if self._has_room():
                        inflight = (method, self._worker.submit(self._handle, properties, body))
                        held = None
                    elif time.monotonic() - since > self._hold_limit_s:
                        # Hand it back before the broker's consumer timeout would; it returns
                        # to this consumer at once and the hold starts over.
                        channel.basic_reject(method.delivery_tag, requeue=True)
                        self.renewals += 1
                        log.info("intake_hold_renewed", held_s=round(time.monotonic() - since))
                        held = None
                if inflight is not None and inflight[1].done():
                    method, future = inflight
                    inflight = None
                    fate = future.result()
                    if fate == "ack":
                        channel.basic_ack(method.delivery_tag)
                    else:
                        channel.basic_reject(method.delivery_tag, requeue=(fate == "requeue"))
            if held is not None:  # stopping: the held job goes back to the queue for the next spooler
                channel.basic_reject(held[0].delivery_tag, requeue=True)
        finally:
            self.ready.clear()
            self._delivered = None
            close_quietly(connection)

    def _deliver(self, _channel: Any, method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        self._delivered = (method, properties, body)

    def _handle(self, properties: pika.BasicProperties, body: bytes) -> str:
        # Counted and logged like the common Consumer's messages (metrics, bound context).
        structlog.contextvars.bind_contextvars(queue=SPOOLER_JOBS.name, message_id=properties.message_id)
        try:
            return self._metered(properties, body)
        finally:
            structlog.contextvars.unbind_contextvars("queue", "message_id")

    def _process(self, properties: pika.BasicProperties, body: bytes) -> str:
        try:
            event = decode_event(properties.type, body)
            if not isinstance(event, JobSubmitted):
                raise UndecodableEvent(f"expected JobSubmitted, got {type(event).__name__}")
        except UndecodableEvent as exc:
            log.error("message_dead_lettered", reason=str(exc)[:2000])
            return "dead"
        structlog.contextvars.bind_contextvars(job_id=event.job_id)
        try:
            self._handler(event, self._publisher())
            return "ack"
        except TransientError as exc:
            log.warning("job_requeued", reason=str(exc)[:500])
            self._stop.wait(1.0)  # a short pause so a failing dependency is not hammered
            return "requeue"
        except PermanentError as exc:
            log.error("message_dead_lettered", reason=str(exc)[:2000])
            return "dead"
        except Exception as exc:  # a bug: park the message, keep the service alive
            log.exception("handler_crashed", reason=repr(exc)[:2000])
            return "dead"
        finally:
            structlog.contextvars.unbind_contextvars("job_id")

    def _publisher(self) -> Publisher:
        publisher = getattr(self._local, "publisher", None)
        if publisher is None:
            publisher = self._local.publisher = Publisher(self._amqp_url, "spooler.publisher")
        return publisher
