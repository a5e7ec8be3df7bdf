"""A publisher that records, and delivery of one event to a handler object (unit tests, no broker)."""

from __future__ import annotations

from typing import Any, TypeVar

from contracts.events import Event
from services.common.bus import HandlerContext, Route
from services.common.service import marked_handlers

E = TypeVar("E", bound=Event)


class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event, headers: dict[str, Any] | None = None) -> None:
        self.events.append(event)

    def of(self, cls: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, cls)]


def deliver(handlers: object, event: Event, publisher: RecordingPublisher,
            redelivered: bool = False) -> None:
    """Hand ``event`` to the ``@handles`` method of ``handlers`` that accepts its class, as the
    consumer does (the same typed dispatch), with a context bound to the event's job."""
    route = Route.to(marked_handlers(type(handlers))[0][0],
                     *(m.__get__(handlers) for _, m in marked_handlers(type(handlers))))
    handler = route.handler_for(event)
    assert handler is not None, f"{type(handlers).__name__} does not handle {type(event).__name__}"
    handler(event, HandlerContext.of(event, publisher, "test", routing_key=event.routing_key(),
                                     redelivered=redelivered))
