"""Taking jobs off ``SPOOLER_JOBS`` only while there is room: bounded look-ahead, short acks.

The common ``Consumer`` acks when its handler returns, so with prefetch 1 the next job would be
delivered at once. Here a job is acked as soon as it is compiled and recorded (never held near
the broker's 30-min consumer timeout), and when the book has no room the consumer is cancelled
*before* that ack goes out, so the following jobs stay ready messages in the queue. Consumption
resumes when a job in hand finishes. Note for a standby spooler: while this one is paused the
queue has no consumer from it, so single-active-consumer hands the queue to the standby.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pika
import pika.exceptions as pex
import structlog

from contracts.events import JobSubmitted, UndecodableEvent, decode_event
from contracts.topology import SPOOLER_JOBS
from services.common.bus import PermanentError, Publisher, TransientError
from services.common.bus.connection import connection_parameters
from services.common.bus.declare import declare_queues

log = structlog.get_logger(__name__)
_CONNECTION_ERRORS = (pex.AMQPConnectionError, pex.AMQPChannelError, pex.StreamLostError, OSError)

JobHandler = Callable[[JobSubmitted, Publisher], None]


class JobIntake:
    """Consumes job submissions one at a time while ``has_room()``; ``run`` blocks until ``stop``."""

    def __init__(self, amqp_url: str, handler: JobHandler, has_room: Callable[[], bool]) -> None:
        self._amqp_url = amqp_url
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
        delay = 0.2
        while not self._stop.is_set():
            try:
                self._consume()
                delay = 0.2
            except _CONNECTION_ERRORS as exc:
                self.ready.clear()
                log.warning("broker_unavailable", error=repr(exc), retry_in_s=delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
        self._worker.shutdown(wait=True)

    def _consume(self) -> None:
        connection = pika.BlockingConnection(connection_parameters(self._amqp_url, "spooler.intake"))
        try:
            channel = connection.channel()
            declare_queues(channel, [SPOOLER_JOBS])
            channel.basic_qos(prefetch_count=1)
            tag: str | None = None
            inflight: tuple[Any, Future[str]] | None = None
            self.ready.set()
            while not self._stop.is_set() or inflight is not None:
                if tag is None and inflight is None and not self._stop.is_set() and self._has_room():
                    tag = channel.basic_consume(SPOOLER_JOBS.name, self._deliver)
                    log.debug("intake_resumed")
                connection.process_data_events(time_limit=0.05 if inflight else 0.2)
                if inflight is None and self._delivered is not None:
                    method, properties, body = self._delivered
                    self._delivered = None
                    inflight = (method, self._worker.submit(self._handle, properties, body))
                if inflight is not None and inflight[1].done():
                    method, future = inflight
                    inflight = None
                    fate = future.result()
                    if tag is not None and (self._stop.is_set() or not self._has_room()):
                        # Cancel before the ack: prefetch 1 means nothing else is on its way.
                        channel.basic_cancel(tag)
                        tag = None
                        log.info("intake_paused", reason="no room" if not self._stop.is_set() else "stopping")
                    if fate == "ack":
                        channel.basic_ack(method.delivery_tag)
                    else:
                        channel.basic_reject(method.delivery_tag, requeue=(fate == "requeue"))
        finally:
            self.ready.clear()
            if connection.is_open:
                try:
                    connection.close()
                except _CONNECTION_ERRORS:
                    pass

    def _deliver(self, _channel: Any, method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        self._delivered = (method, properties, body)

    def _handle(self, properties: pika.BasicProperties, body: bytes) -> str:
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
