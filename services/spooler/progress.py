"""Which handed-over shots have finished: ShotFinished events, with the shot files as fallback.

The spooler follows ``shot.finished.*`` through an exclusive, server-named queue (nothing to
name, nothing left behind). Events published while it was not listening are recovered by
looking for the ``run time`` attribute BLACS writes into an executed shot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pika
import structlog

from contracts.events import ShotFinished, UndecodableEvent, decode_event
from contracts.topology import EXCHANGE, RoutingKey, any_backend
from services.common.bus.connection import close_quietly, connection_parameters, keep_connected
from services.common.bus.declare import declare_exchanges

log = structlog.get_logger(__name__)


class ShotProgress:
    """Calls ``on_finished(event)`` for every ShotFinished; ``on_connected()`` after (re)connect."""

    def __init__(self, amqp_url: str, on_finished: Callable[[ShotFinished], None],
                 on_connected: Callable[[], None]) -> None:
        self._amqp_url = amqp_url
        self._on_finished = on_finished
        self._on_connected = on_connected
        self._stop = threading.Event()
        self.ready = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        keep_connected(self._listen, self._stop, self.ready, "spooler.progress")

    def _listen(self) -> None:
        connection = pika.BlockingConnection(connection_parameters(self._amqp_url, "spooler.progress"))
        try:
            channel = connection.channel()
            declare_exchanges(channel)
            queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
            channel.queue_bind(queue, EXCHANGE, any_backend(RoutingKey.SHOT_FINISHED))
            channel.basic_consume(queue, self._deliver, auto_ack=True)
            self.ready.set()
            self._on_connected()
            while not self._stop.is_set():
                connection.process_data_events(time_limit=0.2)
        finally:
            self.ready.clear()
            close_quietly(connection)

    def _deliver(self, _channel: Any, _method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        try:
            event = decode_event(properties.type, body)
        except UndecodableEvent as exc:
            log.warning("progress_event_ignored", reason=str(exc)[:300])
            return
        if isinstance(event, ShotFinished):
            self._on_finished(event)
