"""Runs any service declaration in the foreground until SIGTERM or SIGINT, then stops it cleanly.

One runner for every service (``shotline <service>``, and so ``shotline up``): settings,
logging, metrics, signal handlers, then the declaration's parts, each on its own thread.
``service_ready`` is announced here and nowhere else, once every part is ready. A part that
ends on its own (it crashed) stops the service with exit code 1, so a supervisor restarts it.
"""

from __future__ import annotations

import importlib
import signal
import threading
from collections.abc import Callable

import structlog

from services.common.logging import announce_ready, configure_logging
from services.common.metrics import serve_metrics
from services.common.service import Part, Service
from services.common.settings import load_settings

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


def declaration(name: str) -> type[Service]:
    """The declaration of service ``name``: ``services.<name>.service.SERVICE``."""
    return importlib.import_module(f"services.{name}.service").SERVICE


def run(declared: type[Service]) -> None:
    """The entry point of every service: blocks until SIGTERM/SIGINT (or a part crashed)."""
    settings = load_settings(declared.settings_class)
    configure_logging(declared.name, settings.log_level, settings.log_format)
    serve_metrics(settings.metrics_port, settings.metrics_host)
    stop = threading.Event()
    # The signal handler must exist before building: labscript_utils.h5_lock's KillLock, set up
    # on import, chains to whatever handler is installed when it connects.
    on_termination(stop.set)
    service = declared(settings)
    if not serve(service, stop):
        raise SystemExit(1)


def serve(service: Service, stop: threading.Event) -> bool:
    """Run ``service``'s parts until ``stop`` is set; False if a part ended on its own."""
    service.start()
    parts = service.parts()
    crashed = threading.Event()
    threads = [threading.Thread(target=_run_part, args=(part, stop, crashed), daemon=True,
                                name=f"{service.name}-{type(part).__name__.lower()}")
               for part in parts]
    for thread in threads:
        thread.start()
    threading.Thread(target=_announce_when_ready, args=(service, parts, stop), daemon=True).start()
    stop.wait()
    for part in reversed(parts):
        part.stop()
    for thread in threads:
        thread.join(30)
    service.close()
    log.info("stopped")
    return not crashed.is_set()


def _run_part(part: Part, stop: threading.Event, crashed: threading.Event) -> None:
    try:
        part.run()
    except Exception:
        log.exception("part_crashed", part=type(part).__name__)
    if not stop.is_set():  # nobody asked it to end
        crashed.set()
        log.error("part_ended", part=type(part).__name__)
        stop.set()


def _announce_when_ready(service: Service, parts: list[Part], stop: threading.Event) -> None:
    """The broker may be down at start: the parts keep retrying and the announcement follows
    when they connect."""
    for part in parts:
        while not part.ready.wait(0.5):
            if stop.is_set():
                return
    announce_ready(**service.ready_details())
