"""A publisher that records, and the handler context built around it (unit tests, no broker)."""

from __future__ import annotations

from typing import Any, TypeVar

from contracts.events import Event
from services.common.bus import MessageContext

E = TypeVar("E", bound=Event)


class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event, headers: dict[str, Any] | None = None) -> None:
        self.events.append(event)

    def of(self, cls: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, cls)]


def context(publisher: RecordingPublisher, redelivered: bool = False) -> MessageContext:
    return MessageContext(publisher, "test", redelivered, 0)  # type: ignore[arg-type]
