"""A service as one declaration: name, settings class, typed routes, long-running parts, readiness.

Each service subclasses ``Service`` (nameko's service class): its handler methods are marked
with ``@handles(queue)``, its other long-running work (servers, loops) are ``Part``s, and
``services.common.runner`` runs any declaration the same way. Readiness means every part is
ready; the consumer, when the service has routes, is one of the parts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from contracts.topology import ListenerSpec, QueueSpec
from services.common.bus import Consumer, Route
from services.common.settings import CommonSettings

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound=CommonSettings)
ROUTE_ATTR = "__shotline_route__"


class Part(Protocol):
    """Long-running work of a service: ``run`` blocks until ``stop``; ``ready`` is set while it
    does its job (it may clear and set again, e.g. across broker reconnects)."""

    ready: threading.Event

    def run(self) -> None: ...

    def stop(self) -> None: ...


def handles(queue: QueueSpec | ListenerSpec, **options: Callable[[Any], Any]) -> Callable[[F], F]:
    """Mark a method as a handler of ``queue``; its first parameter's annotation names the event
    classes it accepts. ``options`` are ``Route`` options given as functions of the service
    instance (e.g. ``gate=lambda s: s.book.has_room``); every handler of a queue shares them."""

    def mark(method: F) -> F:
        setattr(method, ROUTE_ATTR, (queue, options))
        return method

    return mark


Declared = dict[str, tuple[QueueSpec | ListenerSpec, list[tuple[type, Callable[..., Any]]]]]


def marked_handlers(klass: type) -> list[tuple[QueueSpec | ListenerSpec, Callable[..., Any]]]:
    """(queue, unbound method) for every ``@handles`` method of ``klass`` and its bases."""
    found = []
    for base in reversed(klass.__mro__):
        for attr in vars(base).values():
            marked = getattr(attr, ROUTE_ATTR, None)
            if marked is not None:
                found.append((marked[0], attr))
    return found


class Service(Generic[S]):
    """Base of every service declaration: ``class Spooler(Service[SpoolerSettings],
    name="spooler", settings=SpoolerSettings)``."""

    name: ClassVar[str]
    settings_class: ClassVar[type[CommonSettings]]
    #: Classes besides the service's own whose ``@handles`` methods are its handlers; the
    #: instances come from ``handler_object``.
    handler_classes: ClassVar[tuple[type, ...]] = ()

    def __init_subclass__(cls, name: str = "", settings: type[CommonSettings] | None = None,
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name:
            cls.name = name
        if settings is not None:
            cls.settings_class = settings

    def __init__(self, settings: S) -> None:
        self.settings = settings

    @classmethod
    def declared_routes(cls) -> Declared:
        """Queue name -> (queue, [(owning class, unbound handler)]), read from the classes alone."""
        found: Declared = {}
        for klass in (cls, *cls.handler_classes):
            for queue, method in marked_handlers(klass):
                found.setdefault(queue.name, (queue, []))[1].append((klass, method))
        return found

    def handler_object(self, klass: type) -> object:
        """The instance whose methods handle for ``klass`` (one of ``handler_classes``)."""
        raise NotImplementedError(f"{type(self).__name__} has no {klass.__name__}")

    def routes(self) -> list[Route]:
        routes = []
        for queue, methods in self.declared_routes().values():
            options: dict[str, Any] = {}
            handlers = []
            for klass, method in methods:
                owner = self if isinstance(self, klass) else self.handler_object(klass)
                options.update({k: f(self) for k, f in getattr(method, ROUTE_ATTR)[1].items()})
                handlers.append(method.__get__(owner))
            routes.append(Route.to(queue, *handlers, **options))
        return routes

    def consumer_options(self) -> dict[str, Any]:
        """Keyword arguments of this service's ``Consumer`` (prefetch, backoff)."""
        return {}

    def consumer(self) -> Consumer | None:
        """The one consumer of this service's routes; None for a service without routes."""
        routes = self.routes()
        if not routes:
            return None
        return Consumer(self.settings.amqp_url.get_secret_value(), self.name, routes,
                        declare=self.settings.declare_topology, **self.consumer_options())

    def parts(self) -> list[Part]:
        """Everything the runner runs, in start order (stopped in reverse)."""
        consumer = self.consumer()
        return [consumer] if consumer is not None else []

    def start(self) -> None:
        """Work to do before the parts run (warm-ups); the default does nothing."""

    def close(self) -> None:
        """Release what the service holds, after every part stopped; the default does nothing."""

    def ready_details(self) -> dict[str, object]:
        """Extra fields of the ``service_ready`` log line."""
        return {}
