"""The collaborators every view uses, held in one typed ``web.AppKey``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from contracts.backends import BackendRegistry, BackendSpec, UnknownBackendError
from contracts.events import Event
from services.ingest.errors import ApiError
from services.ingest.limits import RateLimiter
from services.ingest.settings import IngestSettings
from services.ingest.store import JobStore


class EventPublisher(Protocol):
    """``services.common.bus.AsyncPublisher`` or a test double: confirmed publishing."""

    async def publish(self, event: Event) -> None: ...

    async def aclose(self) -> None: ...


#: Whether the broker is reachable right now (the consumer is consuming, or a TCP probe).
BrokerProbe = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class Services:
    settings: IngestSettings
    store: JobStore
    publisher: EventPublisher
    registry: BackendRegistry
    limiter: RateLimiter
    broker_ready: BrokerProbe

    def backend(self, name: str) -> BackendSpec:
        """Resolve a display or full backend name; 404 otherwise."""
        try:
            return self.registry.resolve(name)
        except UnknownBackendError:
            raise ApiError(404, "Unknown back-end!",
                           f"unknown backend {name[:80]!r}; known: {', '.join(self.registry)}")


SERVICES = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]
