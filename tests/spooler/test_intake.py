"""The spooler's gated job route against the real broker: bounded look-ahead without giving up
the queue.

While the book is full, one job is held unacked and unprocessed, later jobs stay ready messages,
and the consumer stays registered, so single-active-consumer keeps a standby spooler waiting.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pika
import pytest

from contracts.events import JobSubmitted
from contracts.topology import SPOOLER_JOBS
from services.common.bus import Consumer, Publisher, Route
from tests.conftest import wait_until

pytestmark = pytest.mark.rabbit
TIMEOUT = 20


def job(job_id: str) -> JobSubmitted:
    return JobSubmitted.create("test", job_id=job_id, backend="fermions", owner="alice", payload={})


def intake(amqp_url: str, handle, has_room, hold_limit_s: float = 1500.0) -> Consumer:
    """The spooler's job route: taken only while ``has_room()``, held otherwise."""
    route = Route(SPOOLER_JOBS, {JobSubmitted: handle}, gate=has_room, hold_limit_s=hold_limit_s)
    return Consumer(amqp_url, "spooler", [route])


def ready_messages(amqp_url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return connection.channel().queue_declare(SPOOLER_JOBS.name, passive=True).method.message_count
    finally:
        connection.close()


class Book:
    """Room for one job at a time; taking a job fills it."""

    def __init__(self) -> None:
        self.room = threading.Event()
        self.room.set()
        self.taken: queue.Queue[str] = queue.Queue()

    def handle(self, event, ctx) -> None:
        self.taken.put(event.job_id)
        self.room.clear()


@pytest.fixture
def intakes(amqp_url) -> Iterator:
    running: list[tuple[Consumer, threading.Thread]] = []

    def start(intake: Consumer) -> Consumer:
        thread = threading.Thread(target=intake.run, daemon=True)
        thread.start()
        assert intake.ready.wait(TIMEOUT)
        running.append((intake, thread))
        intake.thread = thread  # type: ignore[attr-defined]
        return intake

    yield start
    for intake, thread in running:
        intake.stop()
        thread.join(TIMEOUT)


def test_full_book_holds_one_job_keeps_the_rest_ready_and_a_standby_waits(amqp_url, intakes):
    book, standby_taken = Book(), queue.Queue()
    active = intakes(intake(amqp_url, book.handle, book.room.is_set, hold_limit_s=60))
    # Registered second: single-active-consumer makes it the standby.
    intakes(intake(amqp_url, lambda e, ctx: standby_taken.put(e.job_id), lambda: True))
    publisher = Publisher(amqp_url, "test")
    for n in range(4):
        publisher.publish(job(f"job-{n}"))
    # Given the first job taken and the book full
    assert book.taken.get(timeout=TIMEOUT) == "job-0"
    # Then the next job is held, later ones stay ready, and the standby gets nothing although
    # the active spooler takes no job
    with pytest.raises(queue.Empty):
        book.taken.get(timeout=1.0)
    assert standby_taken.empty() and ready_messages(amqp_url) == 2
    # When room appears the held job is taken next, in order
    book.room.set()
    assert book.taken.get(timeout=TIMEOUT) == "job-1"
    # And when the active spooler stops, its held job goes back and the standby takes over:
    # nothing is lost (a requeued job goes to the back of a 3.x quorum queue, hence the set)
    active.stop()
    active.thread.join(TIMEOUT)
    assert {standby_taken.get(timeout=TIMEOUT), standby_taken.get(timeout=TIMEOUT)} == {"job-2", "job-3"}
    assert standby_taken.empty() and book.taken.empty()


def test_a_hold_is_renewed_before_the_consumer_timeout_and_nothing_is_lost(amqp_url, intakes):
    book = Book()
    consumer = intakes(intake(amqp_url, book.handle, book.room.is_set, hold_limit_s=0.2))
    publisher = Publisher(amqp_url, "test")
    for n in range(3):
        publisher.publish(job(f"job-{n}"))
    assert book.taken.get(timeout=TIMEOUT) == "job-0"
    # The renewal count has no event to wait on; it rises every 0.2 s while the book is full.
    wait_until(lambda: consumer.renewals >= 3, what="three hold renewals")
    book.room.set()
    second = book.taken.get(timeout=TIMEOUT)
    book.room.set()
    third = book.taken.get(timeout=TIMEOUT)
    assert {second, third} == {"job-1", "job-2"}
    assert ready_messages(amqp_url) == 0
    with pytest.raises(queue.Empty):
        book.taken.get(timeout=0.5)
