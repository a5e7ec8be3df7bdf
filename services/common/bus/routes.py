"""Typed routes: a queue, the handlers it feeds chosen by event class, and how deliveries enter.

A handler's first parameter names the event classes it accepts (a class or a union of them);
that annotation is the route's decoder, as in FastStream. A route is either a work queue
(``QueueSpec``: durable, dead-lettered, retried) or a listener (``ListenerSpec``: private,
broker-named, for following events live). An *admission gate* makes a work route take its next
message only while the gate says there is room (the spooler's bounded look-ahead).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.events import Event
from contracts.topology import ListenerSpec, QueueSpec

Handler = Callable[[Any, Any], None]


def accepted_events(handler: Callable[..., Any]) -> tuple[type[Event], ...]:
    """The event classes named by the annotation of ``handler``'s first parameter.

    Raises:
        TypeError: the parameter is not annotated with concrete event classes.
    """
    target = handler.__call__ if not inspect.isroutine(handler) else handler  # type: ignore[operator]
    params = [p for p in inspect.signature(target).parameters.values() if p.name != "self"]
    if not params:
        raise TypeError(f"{handler!r} takes no event")
    hints = typing.get_type_hints(target)
    annotation = hints.get(params[0].name)
    members = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    classes = tuple(m for m in members if isinstance(m, type) and issubclass(m, Event) and m is not Event)
    if not classes or len(classes) != len(members):
        raise TypeError(f"the event parameter of {getattr(handler, '__qualname__', handler)!r} "
                        f"must be annotated with event classes, not {annotation!r}")
    return classes


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


@dataclass(frozen=True)
class Route:
    """Where a queue's messages go; build it with ``Route.to``."""

    queue: QueueSpec | ListenerSpec
    handlers: Mapping[type[Event], Handler]
    #: Take the next message only while this is true; otherwise hold it unacked (work queues).
    gate: Callable[[], bool] | None = None
    #: A held message is handed back (requeued) after this long, before the broker's consumer
    #: timeout would close the channel.
    hold_limit_s: float = 1500.0
    #: Called (on the route's worker thread) each time consuming (re)starts: a listener's cue
    #: to recover what it missed while disconnected.
    on_connected: Callable[[], None] | None = None
    prefetch: int | None = None
    name: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.queue.name)
        if self.gate is not None and not isinstance(self.queue, QueueSpec):
            raise ValueError("an admission gate needs a work queue to hold messages in")

    @classmethod
    def to(cls, queue: QueueSpec | ListenerSpec, *handlers: Handler, **options: Any) -> Route:
        """A route feeding each event to the handler whose annotation accepts its class."""
        table: dict[type[Event], Handler] = {}
        for handler in handlers:
            for event_cls in accepted_events(handler):
                if event_cls in table:
                    raise ValueError(f"{event_cls.__name__} has two handlers on {queue.name}")
                table[event_cls] = handler
        return cls(queue, table, **options)

    @property
    def listener(self) -> bool:
        return isinstance(self.queue, ListenerSpec)

    @property
    def accepts(self) -> tuple[type[Event], ...]:
        return tuple(self.handlers)

    def handler_for(self, event: Event) -> Handler | None:
        return self.handlers.get(type(event))

    def misrouted(self, delivered_key: str, event: Event) -> str:
        """Why ``event`` must not reach a handler when delivered under ``delivered_key``, or "".

        The event's key is computed from its type and backend, never read from a header a
        sender could set. An event arrives either under that key (from the events exchange) or,
        dead-lettered back from the work queue's retry buffer by the broker, under the queue's
        own name; then it must be an event the queue binds, so a message put there by hand (only
        an administrator may write the default exchange) cannot carry an event this queue would
        never receive: a ShotArchived must not cancel a job.
        """
        key = event.routing_key()
        returned = isinstance(self.queue, QueueSpec) and delivered_key == self.queue.name
        if delivered_key == key or (returned and self.queue.binds(key)):
            return ""
        return (f"{type(event).__name__} of backend {event.backend!r} (routing key {key!r}) "
                f"does not belong on routing key {delivered_key!r}")
