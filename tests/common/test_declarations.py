"""Every service is one declaration, and each of its routes accepts exactly what its queue carries.

A route's event classes come from its handlers' annotations; the routing keys bound to its queue
come from ``contracts.topology``. They must agree both ways: a class whose key the queue does
not bind would never arrive, and a bound key nobody handles would be dead-lettered.
"""

from __future__ import annotations

import pytest

from contracts.events import JobCancelRequested, JobDone, JobFailed
from contracts.topology import LISTENERS, QUEUES, RESULTS_PROGRESS, SPOOLER_CANCELS, any_backend
from services.cli.main import SERVICES
from services.common.bus import Route
from services.common.bus.routes import accepted_events
from services.common.runner import declaration
from services.common.service import Service


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_declares_itself_with_its_name_and_settings(name):
    declared = declaration(name)
    assert issubclass(declared, Service) and declared.name == name
    assert declared.settings_class.__module__ == f"services.{name}.settings"


@pytest.mark.parametrize("name", SERVICES)
def test_each_route_accepts_exactly_the_events_bound_to_its_queue(name):
    for queue, handlers in declaration(name).declared_routes().values():
        accepted = [cls for _, method in handlers for cls in accepted_events(method)]
        assert len(accepted) == len(set(accepted)), f"{queue.name}: an event with two handlers"
        assert {any_backend(cls.ROUTING) for cls in accepted} == set(queue.bindings), queue.name


def test_every_queue_and_listener_of_the_topology_has_exactly_one_declared_consumer():
    consumed = [queue.name for name in SERVICES
                for queue, _ in declaration(name).declared_routes().values()]
    assert sorted(consumed) == sorted(q.name for q in (*QUEUES, *LISTENERS))


def test_a_handler_without_event_annotations_is_refused_at_declaration():
    def untyped(event, ctx) -> None: ...

    with pytest.raises(TypeError, match="annotated with event classes"):
        Route.to(SPOOLER_CANCELS, untyped)


def test_a_route_dispatches_on_the_event_class():
    seen: list[str] = []

    def on_cancel(event: JobCancelRequested, ctx: object) -> None:
        seen.append("cancel")

    def on_end(event: JobDone | JobFailed, ctx: object) -> None:
        seen.append("end")

    route = Route.to(RESULTS_PROGRESS, on_cancel, on_end)
    assert set(route.accepts) == {JobCancelRequested, JobDone, JobFailed}
    failed = JobFailed.create("t", job_id="j", backend="fermions", stage="result", reason="x")
    route.handler_for(failed)(failed, None)
    assert seen == ["end"]
    assert route.handler_for(JobDone.create("t", job_id="j", backend="fermions", result={})) is on_end
