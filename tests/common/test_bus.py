"""The pika runtime against the real broker: confirms, dead-lettering, retries, redelivery, reconnects.

Each test runs in its own vhost (fixture ``amqp_url``).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest

from tests.conftest import wait_until

from contracts.events import JobCancelRequested, encode_event
from contracts.topology import EXCHANGE, SPOOLER_CANCELS, routing_key, RoutingKey
from services.common.bus import Consumer, HandlerContext, PermanentError, Publisher, PublishFailed, Route, TransientError
from services.common.bus.declare import declare_exchanges, declare_queues
from services.common.bus.publisher import event_properties

pytestmark = pytest.mark.rabbit
QUEUE = SPOOLER_CANCELS
TIMEOUT = 20


def cancel_event(job_id: str = "job1") -> JobCancelRequested:
    return JobCancelRequested.create("test", job_id=job_id, backend="fermions", requested_by="alice")


class Recorder:
    """A handler that records what it saw and lets a test wait for it."""

    def __init__(self, behaviour=None) -> None:
        self.seen: queue.Queue[tuple[JobCancelRequested, HandlerContext]] = queue.Queue()
        self.behaviour = behaviour

    def __call__(self, event, ctx) -> None:
        if self.behaviour is not None:
            self.behaviour(event, ctx)
        self.seen.put((event, ctx))

    def next(self, timeout: float = TIMEOUT):
        return self.seen.get(timeout=timeout)


@pytest.fixture
def run_consumer(amqp_url: str) -> Iterator:
    started: list[tuple[Consumer, threading.Thread]] = []

    def start(handler, **kwargs) -> Consumer:
        consumer = Consumer(amqp_url, "test", [Route(QUEUE, {JobCancelRequested: handler})], **kwargs)
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        assert consumer.ready.wait(TIMEOUT), "consumer did not start"
        started.append((consumer, thread))
        consumer.thread = thread  # type: ignore[attr-defined]
        return consumer

    yield start
    for consumer, thread in started:
        consumer.stop()
        thread.join(TIMEOUT)


def declared_channel(amqp_url: str):
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    declare_queues(channel, [QUEUE])
    return connection, channel


def first_message(amqp_url: str, queue_name: str, timeout: float = TIMEOUT):
    """Block until a message arrives on ``queue_name`` (a broker signal, not a sleep)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        for method, props, body in channel.consume(queue_name, inactivity_timeout=timeout):
            if method is None:
                return None
            channel.basic_ack(method.delivery_tag)
            return props, body
    finally:
        connection.close()


def test_round_trip_with_confirms(amqp_url, run_consumer):
    # Given a consumer on the cancel queue
    recorder = Recorder()
    run_consumer(recorder)
    # When an event is published with confirms
    sent = cancel_event()
    Publisher(amqp_url, "test").publish(sent)
    # Then the handler receives the same event, and the queue is empty afterwards
    received, ctx = recorder.next()
    assert received == sent
    assert ctx.routing_key == "job.cancel_requested.fermions"


def test_unroutable_publish_raises(bare_amqp_url):
    # Given the exchanges but no queue at all
    connection = pika.BlockingConnection(pika.URLParameters(bare_amqp_url))
    declare_exchanges(connection.channel())
    connection.close()
    # Then a mandatory publish is refused rather than silently dropped
    with pytest.raises(PublishFailed, match="no queue is bound"):
        Publisher(bare_amqp_url, "test").publish(cancel_event())


def test_poison_message_is_dead_lettered_and_consumer_goes_on(amqp_url, run_consumer):
    recorder = Recorder()
    run_consumer(recorder)
    connection, channel = declared_channel(amqp_url)
    channel.confirm_delivery()
    key = routing_key(RoutingKey.JOB_CANCEL_REQUESTED, "fermions")
    # Given a malformed body, a wrong schema version and an unknown type
    bad_version = encode_event(cancel_event()).replace(b'"schema_version":1', b'"schema_version":99')
    props = event_properties(cancel_event())
    for body, type_name in ((b"{not json", "JobCancelRequested"), (bad_version, "JobCancelRequested"),
                            (encode_event(cancel_event()), "NoSuchEvent")):
        channel.basic_publish(EXCHANGE, key, body, pika.BasicProperties(
            type=type_name, delivery_mode=2, message_id=props.message_id), mandatory=True)
    connection.close()
    # When a good message follows
    good = cancel_event("job2")
    Publisher(amqp_url, "test").publish(good)
    # Then the good one is handled and the three bad ones wait in the DLQ
    assert recorder.next()[0] == good
    dead = [first_message(amqp_url, QUEUE.dead_letter_queue) for _ in range(3)]
    assert {p.type for p, _ in dead} == {"JobCancelRequested", "NoSuchEvent"}
    assert dead[0][1] == b"{not json"


def test_permanent_error_goes_to_dlq(amqp_url, run_consumer):
    def refuse(event, ctx):
        raise PermanentError("unknown job")

    run_consumer(refuse)
    Publisher(amqp_url, "test").publish(cancel_event("job9"))
    props, body = first_message(amqp_url, QUEUE.dead_letter_queue)
    assert b"job9" in body
    assert props.headers["x-death"][0]["reason"] == "rejected"


def test_transient_error_is_retried_then_succeeds(amqp_url, run_consumer):
    attempts: list[int] = []

    def flaky(event, ctx):
        attempts.append(ctx.attempt)
        if ctx.attempt < 2:
            raise TransientError("disk full")

    recorder = Recorder(flaky)
    run_consumer(recorder, min_backoff=0.05)
    Publisher(amqp_url, "test").publish(cancel_event())
    _, ctx = recorder.next()
    assert ctx.attempt == 2 and attempts == [0, 1, 2]


def test_transient_error_gives_up_into_dlq(amqp_url, run_consumer):
    def always(event, ctx):
        raise TransientError("still down")

    run_consumer(always, min_backoff=0.02, max_attempts=3)
    Publisher(amqp_url, "test").publish(cancel_event("job7"))
    props, body = first_message(amqp_url, QUEUE.dead_letter_queue)
    assert b"job7" in body and props.headers["x-shotline-attempt"] == 2


def test_broker_closed_connection_then_consumer_reconnects(amqp_url, vhost, management, run_consumer):
    recorder = Recorder()
    run_consumer(recorder)
    names = wait_until(lambda: [
        c["name"] for c in management.connections(vhost)
        if c.get("client_properties", {}).get("connection_name") == "test.consumer"
    ], what="the consumer's connection, named after its service, in the management API")
    # When the broker closes the consumer's connection (as an operator would in the UI)
    management.close_connection(names[0])
    # Then a message published afterwards is still handled
    sent = cancel_event("after-close")
    Publisher(amqp_url, "test").publish(sent)
    assert recorder.next()[0] == sent


KILLED_CONSUMER = r"""
import sys, threading
from services.common.bus import Consumer, Route
from contracts.topology import SPOOLER_CANCELS
from contracts.events import JobCancelRequested
from services.common.logging import configure_logging
configure_logging("victim", fmt="json")   # logs to stderr; stdout carries the handshake
url, record = sys.argv[1], sys.argv[2]
def handler(event, ctx):
    with open(record, "a") as f:
        f.write(event.message_id + "\n")
    print("HANDLED", flush=True)
    threading.Event().wait()   # never returns: the ack is never sent
consumer = Consumer(url, "victim", [Route(SPOOLER_CANCELS, {JobCancelRequested: handler})])
threading.Thread(target=consumer.run, daemon=True).start()
consumer.ready.wait(20)
print("READY", flush=True)
threading.Event().wait()
"""


def test_consumer_killed_before_ack_message_redelivered_and_handled_once(amqp_url, run_consumer, tmp_path: Path):
    record = tmp_path / "effects.txt"
    # Given a consumer process that performs the side effect and dies before acking
    victim = subprocess.Popen([sys.executable, "-c", KILLED_CONSUMER, amqp_url, str(record)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert victim.stdout.readline().strip() == "READY"
        Publisher(amqp_url, "test").publish(cancel_event("job-k"))
        assert victim.stdout.readline().strip() == "HANDLED"
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(TIMEOUT)

    # When an idempotent consumer takes over
    def idempotent(event, ctx):
        done = record.read_text().split()
        if event.message_id not in done:
            with record.open("a") as f:
                f.write(event.message_id + "\n")

    recorder = Recorder(idempotent)
    run_consumer(recorder)
    # Then the message comes back marked redelivered and the effect exists exactly once
    event, ctx = recorder.next()
    assert event.job_id == "job-k" and ctx.redelivered
    assert record.read_text().split() == [event.message_id]


def test_stop_finishes_the_message_in_hand(amqp_url, run_consumer):
    release, entered = threading.Event(), threading.Event()

    def slow(event, ctx):
        entered.set()
        assert release.wait(TIMEOUT)

    recorder = Recorder(slow)
    consumer = run_consumer(recorder)
    Publisher(amqp_url, "test").publish(cancel_event("job-s"))
    assert entered.wait(TIMEOUT)
    consumer.stop()
    release.set()
    assert recorder.next()[0].job_id == "job-s"
    consumer.thread.join(TIMEOUT)
    assert not consumer.thread.is_alive()
    # The message was acked before the consumer left: nothing comes back to a new consumer.
    assert first_message(amqp_url, QUEUE.name, timeout=1.0) is None


def test_metrics_count_consumed_and_dead_lettered_messages(amqp_url, run_consumer):
    from services.common.metrics import MESSAGES_CONSUMED, MESSAGES_SETTLED

    consumed = MESSAGES_CONSUMED.labels(QUEUE.name)._value.get()
    dead = MESSAGES_SETTLED.labels(QUEUE.name, "dead")._value.get()

    def refuse_second(event, ctx):
        if event.job_id == "bad":
            raise PermanentError("no such job")

    recorder = Recorder(refuse_second)
    run_consumer(recorder)
    Publisher(amqp_url, "test").publish(cancel_event("bad"))
    assert first_message(amqp_url, QUEUE.dead_letter_queue) is not None
    Publisher(amqp_url, "test").publish(cancel_event("good"))
    assert recorder.next()[0].job_id == "good"
    assert MESSAGES_CONSUMED.labels(QUEUE.name)._value.get() == consumed + 2
    assert MESSAGES_SETTLED.labels(QUEUE.name, "dead")._value.get() == dead + 1


def test_an_event_under_another_events_routing_key_is_dead_lettered(amqp_url, run_consumer):
    from contracts.events import ShotArchived

    recorder = Recorder()
    run_consumer(recorder)
    connection, channel = declared_channel(amqp_url)
    channel.confirm_delivery()
    key = routing_key(RoutingKey.JOB_CANCEL_REQUESTED, "fermions")
    # Given a valid ShotArchived and a cancel of another backend, both under the cancel key
    shot = ShotArchived.create("test", job_id="job-m", backend="fermions", experiment="experiment_0",
                               shot_index=0, path="/x.h5", sha256="0" * 64, size=1, memory="1")
    other_backend = cancel_event("job-r").model_copy(update={"backend": "rydberg"})
    for event in (shot, other_backend):
        channel.basic_publish(EXCHANGE, key, encode_event(event), event_properties(event), mandatory=True)
    connection.close()
    # Then neither reaches the handler: both wait in the DLQ, and a good message still goes through
    dead = [first_message(amqp_url, QUEUE.dead_letter_queue) for _ in range(2)]
    assert [p.type for p, _ in dead] == ["ShotArchived", "JobCancelRequested"]
    Publisher(amqp_url, "test").publish(cancel_event("job-ok"))
    assert recorder.next()[0].job_id == "job-ok"


def test_retries_are_counted_apart_from_acks(amqp_url, run_consumer):
    from services.common.metrics import MESSAGES_SETTLED

    retried = MESSAGES_SETTLED.labels(QUEUE.name, "retry")._value.get()

    def once(event, ctx):
        if ctx.attempt == 0:
            raise TransientError("not yet")

    recorder = Recorder(once)
    run_consumer(recorder, min_backoff=0.05)
    Publisher(amqp_url, "test").publish(cancel_event("job-t"))
    assert recorder.next()[1].attempt == 1
    assert MESSAGES_SETTLED.labels(QUEUE.name, "retry")._value.get() == retried + 1


def test_a_publish_the_broker_refused_inside_a_handler_is_retried_not_dead_lettered(amqp_url, run_consumer):
    def publish_fails_once(event, ctx):
        if ctx.attempt == 0:
            raise PublishFailed("broker did not confirm 'job.status.fermions'")

    recorder = Recorder(publish_fails_once)
    run_consumer(recorder, min_backoff=0.05)
    Publisher(amqp_url, "test").publish(cancel_event("job-p"))
    event, ctx = recorder.next()
    assert event.job_id == "job-p" and ctx.attempt == 1


def test_a_forged_routing_key_header_is_ignored_and_the_event_decides(amqp_url):
    from contracts.events import JobFailed

    # Given a route that handles an event its queue does not bind (JobFailed on the cancel queue)
    recorder = Recorder()
    consumer = Consumer(amqp_url, "test", [Route(QUEUE, {JobCancelRequested: recorder, JobFailed: recorder})])
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    assert consumer.ready.wait(TIMEOUT)
    connection, channel = declared_channel(amqp_url)
    channel.confirm_delivery()
    failed = JobFailed.create("test", job_id="job-forged", backend="fermions", stage="execution",
                              reason="forged")
    cancel = cancel_event("job-x")
    try:
        # When messages arrive under the queue's own name, as from its retry buffer, with a
        # header naming a key: a JobFailed whose header claims its own key, and a cancel of
        # this queue whose header claims a job submission; then a cancel under a key of
        # another backend, its header claiming the right one
        for event, claimed, exchange, key in (
            (failed, failed.routing_key(), "", QUEUE.name),
            (cancel, "job.submitted.fermions", "", QUEUE.name),
            (cancel_event("job-r"), "job.cancel_requested.fermions", EXCHANGE,
             "job.cancel_requested.rydberg"),
        ):
            props = event_properties(event, {"x-shotline-routing-key": claimed})
            channel.basic_publish(exchange, key, encode_event(event), props, mandatory=True)
        connection.close()
        # Then the JobFailed never reaches a handler, the cancel does (the header changed
        # nothing), the misrouted one is dead-lettered too, and a good message still goes through
        received, ctx = recorder.next()
        assert received == cancel and ctx.routing_key == "job.cancel_requested.fermions"
        dead = [first_message(amqp_url, QUEUE.dead_letter_queue) for _ in range(2)]
        assert [json.loads(body)["job_id"] for _, body in dead] == ["job-forged", "job-r"]
        Publisher(amqp_url, "test").publish(cancel_event("job-ok"))
        assert recorder.next()[0].job_id == "job-ok"
        assert recorder.seen.empty()
    finally:
        consumer.stop()
        thread.join(TIMEOUT)


class DeliveryTap:
    """A hook recording how each message arrived: its routing key and headers."""

    def __init__(self) -> None:
        self.arrived: list[tuple[str, dict]] = []

    def before(self, delivery) -> None:
        self.arrived.append((delivery.routing_key, delivery.headers))

    def after(self, delivery, fate, seconds) -> None:
        pass


def test_a_retry_comes_back_under_the_queues_name_with_no_routing_key_header(amqp_url, run_consumer):
    from services.common.bus.hooks import DEFAULT_HOOKS

    # Given a handler that fails once
    def once(event, ctx):
        if ctx.attempt == 0:
            raise TransientError("not yet")

    recorder, tap = Recorder(once), DeliveryTap()
    run_consumer(recorder, min_backoff=0.05, hooks=(*DEFAULT_HOOKS, tap))
    Publisher(amqp_url, "test").publish(cancel_event("job-k"))
    # Then the second attempt sees the key computed from the event ...
    event, ctx = recorder.next()
    assert event.job_id == "job-k" and ctx.attempt == 1
    assert ctx.routing_key == "job.cancel_requested.fermions"
    # ... although its copy came back from the retry buffer under the queue's own name,
    # carrying its attempt and no routing key for anyone to trust
    (first_key, _), (second_key, headers) = tap.arrived
    assert (first_key, second_key) == ("job.cancel_requested.fermions", QUEUE.name)
    assert headers["x-shotline-attempt"] == 1
    assert not any("routing-key" in name for name in headers if name.startswith("x-shotline"))
