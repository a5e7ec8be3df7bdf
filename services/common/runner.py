"""Runs a consumer service in the foreground until SIGTERM or SIGINT, then stops it cleanly."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import structlog

from services.common.bus import Consumer
from services.common.logging import announce_ready, configure_logging
from services.common.metrics import serve_metrics
from services.common.settings import CommonSettings, load_settings

log = structlog.get_logger(__name__)


def on_termination(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGTERM/SIGINT (main thread only, as Python requires)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, _frame: object) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_consumer(consumer: Consumer) -> None:
    """Block consuming; SIGTERM finishes the message in hand, acks it, then returns."""
    on_termination(consumer.stop)
    threading.Thread(target=announce_when_ready, args=([consumer.ready], consumer.stopping),
                     daemon=True).start()
    consumer.run()
    log.info("stopped")


def announce_when_ready(parts: Sequence[threading.Event], stopping: Callable[[], bool]) -> None:
    """Log ``service_ready`` once every part is ready. The broker may be down at start: the
    parts keep retrying and the announcement follows when they connect."""
    for ready in parts:
        while not ready.wait(1.0):
            if stopping():
                return
    announce_ready()


class Service(Protocol):
    def run(self) -> None: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=CommonSettings)


def run_service(name: str, settings_cls: type[S], build: Callable[[S], Service]) -> None:
    """The entry point of a service that is not a plain consumer: settings, logging, metrics,
    then ``build(settings).run()`` until SIGTERM/SIGINT calls its ``stop``."""
    settings = load_settings(settings_cls)
    configure_logging(name, settings.log_level, settings.log_format)
    serve_metrics(settings.metrics_port, settings.metrics_host)
    # The signal handler must exist before building: labscript_utils.h5_lock's KillLock, set up
    # on import, chains to whatever handler is installed when it connects.
    holder: list[Service] = []
    on_termination(lambda: holder[0].stop() if holder else None)
    holder.append(build(settings))
    holder[0].run()
