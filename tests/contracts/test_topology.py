"""Topology: names, topic matching, and that every event has somewhere to go."""

import pytest

from contracts.events import EVENT_TYPES
from contracts.topology import QUEUES, queue, routing_key, topic_matches


@pytest.mark.parametrize(("pattern", "key", "expected"), [
    ("job.submitted.*", "job.submitted.fermions", True),
    ("job.submitted.*", "job.submitted", False),
    ("job.#", "job.status.fermions", True),
    ("#", "shot.finished.rydberg", True),
    ("shot.*.fermions", "shot.finished.fermions", True),
    ("shot.*.fermions", "shot.finished.rydberg", False),
    ("job.#.fermions", "job.fermions", True),
])
def test_topic_matching(pattern, key, expected):
    assert topic_matches(pattern, key) is expected


def test_every_event_reaches_a_work_queue():
    # Publishing is mandatory: an event no queue binds would be refused.
    for name, cls in EVENT_TYPES.items():
        key = routing_key(cls.ROUTING, "fermions")
        assert any(q.binds(key) for q in QUEUES), f"{name} ({key}) reaches no queue"


def test_queue_names_follow_service_handler_and_have_dead_letter_twins():
    names = [q.name for q in QUEUES]
    assert len(names) == len(set(names))
    for q in QUEUES:
        assert q.name == f"{q.service}.{q.handler}"
        assert q.arguments["x-queue-type"] == "quorum"
        assert q.arguments["x-dead-letter-routing-key"] == f"{q.name}.dlq"
    assert queue("spooler.on_job_submitted").single_active_consumer


@pytest.mark.parametrize("backend", ["", "a.b", "*", "#"])
def test_backend_must_be_one_routing_word(backend):
    with pytest.raises(ValueError):
        routing_key("job.done", backend)
