"""Runs a consumer service in the foreground until SIGTERM or SIGINT, then stops it cleanly."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import structlog

from services.common.bus import Consumer

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
    consumer.run()
    log.info("stopped")
