"""The aiohttp application factory: routes, error middleware, bus lifetime, typed state."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pika
import structlog
from aiohttp import web

from contracts.backends import BackendRegistry
from contracts.topology import SPOOLER_CANCELS, SPOOLER_JOBS
from services.common.bus import Consumer
from services.common.bus.connection import connection_parameters
from services.common.bus.declare import DeclareMode, set_up
from services.ingest.context import SERVICES, BrokerProbe, EventPublisher, Services
from services.ingest.limits import RateLimiter
from services.ingest.openapi import OPENAPI, build_openapi
from services.ingest.middleware import error_middleware, security_headers
from services.ingest.routes import setup_routes
from services.ingest.settings import IngestSettings
from services.ingest.store import JobStore

log = structlog.get_logger(__name__)
#: The queues the ingest publishes into. Declaring them (idempotent) means a job submitted
#: before the spooler's first start waits in its queue instead of being unroutable.
PUBLISHES_TO = (SPOOLER_JOBS, SPOOLER_CANCELS)


def declare_destinations(amqp_url: str, mode: DeclareMode = "all") -> None:
    connection = pika.BlockingConnection(connection_parameters(amqp_url, "ingest.declare"))
    try:
        set_up(connection.channel(), mode, PUBLISHES_TO)
    finally:
        connection.close()


def tcp_probe(amqp_url: str, timeout: float = 1.0) -> BrokerProbe:
    """A broker probe for an app without a consumer: can we open a TCP connection?"""
    parts = urlsplit(amqp_url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)

    async def probe() -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (OSError, asyncio.TimeoutError):
            return False
        writer.close()
        return True

    return probe


def create_app(
    settings: IngestSettings,
    store: JobStore,
    publisher: EventPublisher,
    *,
    broker_ready: BrokerProbe | None = None,
    registry: BackendRegistry | None = None,
    consumer: Consumer | None = None,
) -> web.Application:
    """Build the ingest application around injected collaborators (tests pass their own).

    The bus lives in one ``cleanup_ctx``: destinations declared and ``consumer`` (the job
    events) started with the app; at cleanup the consumer finishes its messages while the loop
    still runs (their effects are applied on it), then the publisher closes.
    """
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.max_body_bytes)
    app.on_response_prepare.append(security_headers)
    app[SERVICES] = Services(
        settings=settings,
        store=store,
        publisher=publisher,
        registry=registry if registry is not None else settings.registry(),
        limiter=RateLimiter(settings.submit_rate, settings.submit_burst),
        broker_ready=broker_ready or tcp_probe(settings.amqp_url.get_secret_value()),
    )
    served = app[SERVICES].registry.values()
    app[OPENAPI] = build_openapi([n for s in served for n in (s.display_name, s.backend_name)])
    setup_routes(app, shots_api=settings.shots_backend is not None)

    async def bus_lifetime(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, declare_destinations,
                                       settings.amqp_url.get_secret_value(), settings.declare_topology)
        except Exception as exc:  # broker down at start: /readyz says so; posts answer 503
            log.warning("declare_failed", error=repr(exc)[:300])
        thread = None
        if consumer is not None:
            thread = threading.Thread(target=consumer.run, name="ingest-consumer", daemon=True)
            thread.start()
        yield
        if consumer is not None and thread is not None:
            consumer.stop()
            await loop.run_in_executor(None, thread.join, 30)  # join() kept off the loop
        await publisher.aclose()

    app.cleanup_ctx.append(bus_lifetime)
    return app
