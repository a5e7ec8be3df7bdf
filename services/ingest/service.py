"""``shotline ingest``: settings, logging, store, event consumer thread and the HTTP server."""

from __future__ import annotations

import asyncio
import signal
import threading
import time

import structlog
from aiohttp import web

from services.common.bus import AsyncPublisher, Consumer
from contracts.status import JobStatus
from services.common.logging import announce_ready, configure_logging
from services.common.metrics import register_jobs_by_status, serve_metrics, sqlite_status_counts
from services.common.settings import load_settings
from services.ingest.app import create_app
from services.ingest.events import event_route
from services.ingest.settings import IngestSettings
from services.ingest.sqlite_store import SqliteJobStore
from services.ingest.submission import fail_orphans

log = structlog.get_logger(__name__)
SERVICE = "ingest"


async def serve(settings: IngestSettings, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set; then stop taking requests, the consumer, and close the bus."""
    store = SqliteJobStore(settings.database)
    orphans = await fail_orphans(store, time.time())
    if orphans:
        log.warning("orphaned_jobs_failed", jobs=orphans[:20], count=len(orphans))
    publisher = AsyncPublisher(settings.amqp_url, f"{SERVICE}.publisher",
                               threads=settings.publish_threads)
    loop = asyncio.get_running_loop()
    consumer = Consumer(settings.amqp_url, SERVICE, [event_route(store, loop)], prefetch=32)

    async def consuming() -> bool:
        return consumer.ready.is_set()

    app = create_app(settings, store, publisher, broker_ready=consuming)
    # A request line or header over aiohttp's default 8 KiB is refused by its HTTP parser with
    # a plain-text 400 before any of our code runs; at 64 KiB every realistic oversized query
    # reaches the handlers and gets the JSON error body clients rely on.
    runner = web.AppRunner(app, access_log=None, max_line_size=65536, max_field_size=65536)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    thread = threading.Thread(target=consumer.run, name=f"{SERVICE}-consumer", daemon=True)
    thread.start()
    log.info("listening", host=settings.http_host, port=settings.http_port,
             store=str(settings.database), vhost=settings.vhost)

    async def announce_when_consuming() -> None:
        # The broker may be down at start; the consumer keeps retrying and we announce then.
        while not await loop.run_in_executor(None, consumer.ready.wait, 1.0):
            if stop.is_set():
                return
        announce_ready(port=settings.http_port)

    announcer = asyncio.create_task(announce_when_consuming())
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        announcer.cancel()
        consumer.stop()
        # The consumer's last acks need the loop (events are applied on it), so it keeps
        # running while the thread finishes; an executor keeps join() off the loop.
        await loop.run_in_executor(None, thread.join, 30)
        await runner.cleanup()  # stops the site, drains requests, closes the publisher
        await store.close()
        log.info("stopped")


def run() -> None:
    """Entry point of ``shotline ingest``: blocks until SIGTERM or SIGINT."""
    settings = load_settings(IngestSettings)
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    # Metrics get their own port, not a route of the public API: job counts are nobody's
    # business outside the lab, and the port can be bound to an internal address.
    if serve_metrics(settings.metrics_port, settings.metrics_host):
        register_jobs_by_status(sqlite_status_counts(settings.database), tuple(JobStatus))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
