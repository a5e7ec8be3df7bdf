"""The ingest service: the HTTP API on an event loop, and the job events folded into its store."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout

import structlog
from aiohttp import web

from contracts.status import JobStatus
from contracts.topology import INGEST_JOB_EVENTS
from services.common.bus import AsyncPublisher, HandlerContext, TransientError
from services.common.metrics import register_jobs_by_status, sqlite_status_counts
from services.common.service import Part, Service, handles
from services.ingest.app import create_app
from services.ingest.connections import GuardedRunner, connection_limits
from services.ingest.events import JobLifecycleEvent, apply_event
from services.ingest.settings import IngestSettings
from services.ingest.sqlite_store import SqliteJobStore
from services.ingest.store import JobStore
from services.ingest.submission import fail_orphans

log = structlog.get_logger(__name__)
#: How long the consumer thread waits for the loop to apply one event before retrying it.
APPLY_TIMEOUT_S = 10.0


class JobEventFolder:
    """The handler of ``INGEST_JOB_EVENTS``: it runs on the consumer's worker thread and hands
    the event to the event loop, which owns the store; the ack follows the store's commit."""

    def __init__(self, store: JobStore, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop

    @handles(INGEST_JOB_EVENTS)
    def on_job_event(self, event: JobLifecycleEvent, ctx: HandlerContext) -> None:
        if self.loop.is_closed():
            raise TransientError("the ingest is shutting down")
        future = asyncio.run_coroutine_threadsafe(apply_event(self.store, event), self.loop)
        try:
            changed = future.result(APPLY_TIMEOUT_S)
        except FutureTimeout as exc:
            future.cancel()
            raise TransientError("the job store did not answer in time") from exc
        log.info("job_event", kind=type(event).__name__, changed=changed)


class Ingest(Service[IngestSettings], name="ingest", settings=IngestSettings):
    """HTTP in, ``job.submitted`` out; job events in, the store up to date."""

    handler_classes = (JobEventFolder,)

    def __init__(self, settings: IngestSettings) -> None:
        super().__init__(settings)
        self.folder: JobEventFolder | None = None  # made on the loop, by the HTTP server

    def handler_object(self, klass: type) -> object:
        assert self.folder is not None, "the routes exist once the event loop runs"
        return self.folder

    def consumer_options(self) -> dict[str, object]:
        return {"prefetch": 32}

    def start(self) -> None:
        # Metrics get their own port, not a route of the public API: job counts are nobody's
        # business outside the lab, and the port can be bound to an internal address.
        if self.settings.metrics_port:
            register_jobs_by_status(sqlite_status_counts(self.settings.database), tuple(JobStatus))

    def parts(self) -> list[Part]:
        return [HttpServer(self)]

    def ready_details(self) -> dict[str, object]:
        return {"port": self.settings.http_port}


class HttpServer:
    """The event loop of the ingest: the store, the aiohttp app (with its bus) and the site."""

    def __init__(self, service: Ingest) -> None:
        self._service = service
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = threading.Event()

    def run(self) -> None:
        asyncio.run(self._serve())

    def stop(self) -> None:
        self._stop_requested.set()
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def _serve(self) -> None:
        settings = self._service.settings
        loop = asyncio.get_running_loop()
        self._loop, self._stop = loop, asyncio.Event()
        if self._stop_requested.is_set():
            return
        store = SqliteJobStore(settings.database)
        orphans = await fail_orphans(store, time.time())
        if orphans:
            log.warning("orphaned_jobs_failed", jobs=orphans[:20], count=len(orphans))
        self._service.folder = JobEventFolder(store, loop)
        consumer = self._service.consumer()
        assert consumer is not None
        publisher = AsyncPublisher(settings.amqp_url.get_secret_value(), "ingest.publisher",
                                   threads=settings.publish_threads)

        async def consuming() -> bool:
            return consumer.ready.is_set()

        app = create_app(settings, store, publisher, broker_ready=consuming, consumer=consumer)
        runner = GuardedRunner(app, connection_limits(settings), access_log=None,
                               keepalive_timeout=settings.http_idle_timeout_s)
        await runner.setup()
        try:
            site = web.TCPSite(runner, settings.http_host, settings.http_port)
            await site.start()
            log.info("listening", host=settings.http_host, port=settings.http_port,
                     store=str(settings.database), vhost=settings.vhost)
            ready = asyncio.create_task(self._ready_when_consuming(consumer.ready))
            await self._stop.wait()
            ready.cancel()
        finally:
            self.ready.clear()
            await runner.cleanup()  # stops the site, drains requests, then the bus (cleanup_ctx)
            await store.close()

    async def _ready_when_consuming(self, consuming: threading.Event) -> None:
        # The broker may be down at start; the consumer keeps retrying, ready follows then.
        loop = asyncio.get_running_loop()
        while not await loop.run_in_executor(None, consuming.wait, 1.0):
            pass
        self.ready.set()


SERVICE = Ingest
