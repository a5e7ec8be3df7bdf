"""Broker permissions that hold, on a real broker with the users of definitions.json: a service
user publishes only the events it produces and retries only into its own buffers; it cannot write
the default or the dead-letter exchange, declare anything but a listener's server-named queue,
or read another service's queue; and under those users the services still work."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pika
import pika.exceptions as pex
import pytest

from contracts.artifacts import PRODUCERS, SERVICE_USERS
from contracts.events import EVENT_TYPES, JobCancelRequested, ShotFinished
from contracts.topology import (
    DEAD_LETTER_EXCHANGE, EXCHANGE, QUEUES, RETRY_EXCHANGES, SPOOLER_CANCELS, SPOOLER_JOBS,
    SPOOLER_SHOT_PROGRESS, routing_key,
)
from services.common.bus import Consumer, PermanentError, Publisher, Route, TransientError
from tests.conftest import AMQP_BASE, wait_until
from tests.support.definitions import create_users, delete_users, load_topology

pytestmark = pytest.mark.rabbit
USERS = SERVICE_USERS + ("observer",)
REFUSED = 403  # ACCESS_REFUSED: the broker closes the channel
ACCEPTED = 0
TIMEOUT = 20


@pytest.fixture
def deployed(management, vhost) -> Iterator[dict[str, str]]:
    """The vhost as definitions.json sets it up; each user's AMQP URL."""
    load_topology(management, vhost)
    urls = create_users(management, vhost, AMQP_BASE)
    yield urls
    delete_users(management, vhost, list(urls))


def event_key(name: str) -> str:
    return routing_key(EVENT_TYPES[name].ROUTING, "fermions")


def forbidden_publishes(user: str) -> dict[str, tuple[str, str]]:
    """What ``user`` must not publish: label -> (exchange, routing key)."""
    tries = {
        "default exchange": ("", SPOOLER_JOBS.name),
        "amq.default": ("amq.default", SPOOLER_JOBS.name),
        "dead-letter exchange": (DEAD_LETTER_EXCHANGE, SPOOLER_JOBS.dead_letter_queue),
    }
    tries.update({f"retry buffer {q.name}": (q.retry_exchange, q.retry_queue)
                  for q in QUEUES if q.service != user})
    tries.update({f"event {name}": (EXCHANGE, event_key(name))
                  for name, producers in PRODUCERS.items() if user not in producers})
    return tries


def allowed_publishes(user: str) -> dict[str, tuple[str, str]]:
    """What ``user`` needs to publish: its own events and its own retries."""
    tries = {f"event {name}": (EXCHANGE, event_key(name))
             for name, producers in PRODUCERS.items() if user in producers}
    tries.update({f"retry buffer {q.name}": (q.retry_exchange, q.retry_queue)
                  for q in QUEUES if q.service == user})
    return tries


def outcome(url: str, act: Callable[[pika.adapters.blocking_connection.BlockingChannel], object]) -> int:
    """ACCEPTED, or the reply code the broker closed the channel with."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        try:
            act(channel)
        except pex.ChannelClosedByBroker as exc:
            return exc.reply_code
        return ACCEPTED
    finally:
        if connection.is_open:
            connection.close()


def publish(exchange: str, key: str) -> Callable[..., None]:
    # A confirmed, mandatory publish: accepted means routed to a queue, not merely not refused.
    # The short TTL sends a message published into a retry buffer straight back to its queue.
    props = pika.BasicProperties(delivery_mode=2, expiration="1", type="JobSubmitted")
    return lambda channel: channel.basic_publish(exchange, key, b"{}", props, mandatory=True)


def test_every_user_of_the_definitions_is_tried():
    assert set(USERS) == {u["name"] for u in _definition_users()} - {"admin"}


def _definition_users() -> list[dict]:
    from contracts.artifacts import rabbitmq_definitions

    return rabbitmq_definitions()["users"]


@pytest.mark.parametrize("user", USERS)
def test_a_service_user_cannot_publish_past_its_permissions(deployed, user):
    # Given the user's own broker login; When it tries every publish it has no business making
    tries = forbidden_publishes(user)
    # Then the broker refuses each one (it addresses no queue by name, fakes no other producer)
    assert {label: outcome(deployed[user], publish(*t)) for label, t in tries.items()} \
        == {label: REFUSED for label in tries}


@pytest.mark.parametrize("user", SERVICE_USERS)
def test_a_service_user_can_publish_what_it_must(deployed, user):
    tries = allowed_publishes(user)
    assert tries, f"{user} publishes nothing"
    assert {label: outcome(deployed[user], publish(*t)) for label, t in tries.items()} \
        == {label: ACCEPTED for label in tries}


@pytest.mark.parametrize("user", USERS)
def test_a_service_user_cannot_reshape_the_topology_or_read_other_queues(deployed, user):
    # An exchange of its own bound into the events exchange would route around the topic
    # permissions; a queue declared with a dead-letter exchange is a write to that exchange.
    own_retry = next((x for x in RETRY_EXCHANGES if x.endswith(f".{user}")), DEAD_LETTER_EXCHANGE)
    others = [q.name for q in QUEUES if q.service != user]
    tries: dict[str, Callable[..., object]] = {
        "declare an exchange": lambda ch: ch.exchange_declare(f"{user}.tap", "fanout"),
        "declare a named queue": lambda ch: ch.queue_declare(f"{user}.extra", durable=True),
        "redeclare a work queue": lambda ch: ch.queue_declare(
            SPOOLER_JOBS.name, durable=True, arguments=dict(SPOOLER_JOBS.arguments)),
        "bind an exchange into the events": lambda ch: ch.exchange_bind(EXCHANGE, own_retry, "#"),
        "bind a queue to its retry exchange": lambda ch: ch.queue_bind(
            SPOOLER_CANCELS.name, own_retry, SPOOLER_CANCELS.name),
        **{f"read {name}": (lambda n: lambda ch: ch.basic_get(n))(name) for name in others},
        **{f"read {q.dead_letter_queue}": (lambda n: lambda ch: ch.basic_get(n))(q.dead_letter_queue)
           for q in QUEUES},
    }
    assert {label: outcome(deployed[user], act) for label, act in tries.items()} \
        == {label: REFUSED for label in tries}


@pytest.mark.parametrize("user", ["observer", SPOOLER_SHOT_PROGRESS.service])
def test_a_listener_user_can_follow_events_in_a_private_queue(deployed, user):
    def listen(channel) -> None:
        tap = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(tap, EXCHANGE, "shot.finished.*")

    assert outcome(deployed[user], listen) == ACCEPTED


class Seen:
    """A handler recording (job id, attempt); a test waits on it, never sleeps."""

    def __init__(self, behaviour: Callable[[object, object], None] | None = None) -> None:
        self.items: queue.Queue[tuple[str, int]] = queue.Queue()
        self.behaviour = behaviour

    def __call__(self, event, ctx) -> None:
        if self.behaviour is not None:
            self.behaviour(event, ctx)
        self.items.put((event.job_id, ctx.attempt))

    def next(self) -> tuple[str, int]:
        return self.items.get(timeout=TIMEOUT)


def run(consumer: Consumer) -> threading.Thread:
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    assert consumer.ready.wait(TIMEOUT), "consumer did not start"
    return thread


def test_under_its_own_user_a_consumer_retries_dead_letters_and_listens(deployed, bare_amqp_url):
    # Given the spooler's consumer under the spooler's user, only verifying its queues
    def cancel(event: JobCancelRequested, ctx) -> None:
        if event.job_id == "job-poison":
            raise PermanentError("unknown job")
        if ctx.attempt == 0:
            raise TransientError("book busy")

    cancels, shots = Seen(cancel), Seen()
    consumer = Consumer(
        deployed["spooler"], "spooler",
        [Route(SPOOLER_CANCELS, {JobCancelRequested: cancels}),
         Route(SPOOLER_SHOT_PROGRESS, {ShotFinished: shots})],
        declare="verify", min_backoff=0.05)
    thread = run(consumer)
    try:
        # When the ingest's user requests cancels and the shotwatch's user reports a shot
        ingest = Publisher(deployed["ingest"], "ingest")
        for job in ("job-poison", "job-c"):
            ingest.publish(JobCancelRequested.create("ingest", job_id=job, backend="fermions",
                                                     requested_by="alice"))
        Publisher(deployed["shotwatch"], "shotwatch").publish(ShotFinished.create(
            "shotwatch", job_id="job-s", backend="fermions", experiment="experiment_0",
            shot_index=0, path="/x.h5", sha256="0" * 64, size=1))
        # Then the cancel went through the spooler's own retry buffer and back (broker
        # dead-lettering needs no write permission), the listener saw the shot ...
        assert cancels.next() == ("job-c", 1)
        assert shots.next() == ("job-s", 0)
    finally:
        consumer.stop()
        thread.join(TIMEOUT)
    # ... and the poison waits in the DLQ, moved there by the broker
    connection = pika.BlockingConnection(pika.URLParameters(bare_amqp_url))
    try:
        method, _, body = connection.channel().basic_get(SPOOLER_CANCELS.dead_letter_queue, auto_ack=True)
    finally:
        connection.close()
    assert method is not None and b"job-poison" in body


@pytest.mark.e2e
def test_the_stack_runs_a_job_under_the_least_privilege_users(deployed, management, vhost,
                                                              bare_amqp_url, tmp_path: Path):
    from tests.e2e.test_pipeline import JOBS
    from tests.support.stack import Stack

    # Given every service under its own user of definitions.json, declaring nothing
    per_service = {name: {"SHOTLINE_AMQP_URL": url} for name, url in deployed.items()
                   if name in SERVICE_USERS}
    with Stack(tmp_path / "home", bare_amqp_url, service_env=per_service,
               extra_env={"SHOTLINE_DECLARE_TOPOLOGY": "verify"}) as stack:
        stack.start()
        stack.add_user("alice")
        # When a job is submitted; Then it completes like on a broker without permissions
        job_id = stack.post_job("singlequdit", JOBS["singlequdit"])
        status = stack.wait_final("singlequdit", job_id, timeout=180)
        assert status["status"] == "DONE", status
        # ... each service connected as its own user (the connection list is refreshed by the
        # management stats collector: no signal to wait on)
        expected = {(name, f"{vhost}-{name}") for name in per_service}
        logins = wait_until(lambda: (seen := {
            (c["client_properties"]["connection_name"].split(".")[0], c["user"])
            for c in management.connections(vhost)}) >= expected and seen,
            what="a connection of every service")
        assert {user for _, user in logins} == {user for _, user in expected}
        refused = [(name, line) for name, proc in stack.procs.items() for line in proc.lines
                   if "ACCESS_REFUSED" in str(line)]
        assert refused == []


def test_the_observer_user_follows_events_with_the_cli(deployed):
    from tests.cli.test_operator_tools import shotline

    follower = shotline(deployed["observer"], "events", "--follow", "shot.finished.*", "--count", "1",
                        env_extra={"SHOTLINE_DECLARE_TOPOLOGY": "verify"})
    try:
        assert follower.stderr.readline().startswith("# following"), follower.stderr.read()
        sent = ShotFinished.create("shotwatch", job_id="job-o", backend="fermions",
                                   experiment="experiment_0", shot_index=0, path="/x.h5",
                                   sha256="0" * 64, size=1)
        Publisher(deployed["shotwatch"], "shotwatch").publish(sent)
        assert json.loads(follower.stdout.readline())["event"]["message_id"] == sent.message_id
        assert follower.wait(30) == 0
    finally:
        follower.kill()
