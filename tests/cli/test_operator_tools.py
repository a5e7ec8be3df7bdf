"""Operator tools against the real broker: following events, showing and replaying a DLQ."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pika
import pytest

from contracts.events import JobCancelRequested, encode_event
from contracts.topology import DEAD_LETTER_EXCHANGE, SPOOLER_CANCELS, SPOOLER_JOBS
from services.common.bus import Publisher
from services.common.bus.publisher import event_properties

pytestmark = pytest.mark.rabbit


def shotline(amqp_url: str, *args: str, env_extra: dict[str, str] | None = None,
             **kwargs) -> subprocess.Popen:
    env = {**os.environ, "SHOTLINE_AMQP_URL": amqp_url, **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "services.cli.main", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def event(job_id: str) -> JobCancelRequested:
    return JobCancelRequested.create("test", job_id=job_id, backend="rydberg", requested_by="bob")


def test_events_follow_prints_matching_events_live(amqp_url):
    follower = shotline(amqp_url, "events", "--follow", "job.cancel_requested.*", "--count", "1")
    try:
        assert follower.stderr.readline().startswith("# following")  # bound and listening
        sent = event("job-f")
        Publisher(amqp_url, "test").publish(sent)
        line = json.loads(follower.stdout.readline())
        assert line["routing_key"] == "job.cancel_requested.rydberg"
        assert line["type"] == "JobCancelRequested"
        assert line["event"]["message_id"] == sent.message_id
        assert follower.wait(30) == 0
    finally:
        follower.kill()


def dead_letter(amqp_url: str, body: bytes, props: pika.BasicProperties) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_publish(DEAD_LETTER_EXCHANGE, SPOOLER_CANCELS.dead_letter_queue, body, props, mandatory=True)
    connection.close()


def dlq_depth(amqp_url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return connection.channel().queue_declare(
            SPOOLER_CANCELS.dead_letter_queue, passive=True).method.message_count
    finally:
        connection.close()


def test_dlq_show_leaves_messages_and_replay_returns_them_to_work(amqp_url):
    # Given two dead letters in the cancel queue's DLQ
    for job in ("job-a", "job-b"):
        ev = event(job)
        dead_letter(amqp_url, encode_event(ev), event_properties(ev))
    # When an operator shows them
    show = shotline(amqp_url, "dlq", "show", SPOOLER_CANCELS.name)
    out, _ = show.communicate(timeout=60)
    shown = [json.loads(line) for line in out.splitlines()]
    assert [s["routing_key"] for s in shown] == ["job.cancel_requested.rydberg"] * 2
    assert dlq_depth(amqp_url) == 2, "show must leave the dead letters where they are"
    # Then replaying puts both back on the work queue, in order, and empties the DLQ
    replay = shotline(amqp_url, "dlq", "replay", SPOOLER_CANCELS.name)
    replay.communicate(timeout=60)
    assert replay.returncode == 0
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    jobs = []
    for method, props, body in channel.consume(SPOOLER_CANCELS.name, inactivity_timeout=10):
        if method is None:
            break
        jobs.append(json.loads(body)["job_id"])
        channel.basic_ack(method.delivery_tag)
        if len(jobs) == 2:
            break
    assert jobs == ["job-a", "job-b"]
    connection.close()
    assert dlq_depth(amqp_url) == 0


def queue_depth(amqp_url: str, name: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return connection.channel().queue_declare(name, passive=True).method.message_count
    finally:
        connection.close()


def drain(amqp_url: str, name: str, expected: int) -> list[tuple[str, str]]:
    """The first ``expected`` messages of ``name`` as (routing key, job id); a broker signal."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    got = []
    for method, _, body in channel.consume(name, inactivity_timeout=10):
        if method is None:
            break
        got.append((method.routing_key, json.loads(body)["job_id"]))
        channel.basic_ack(method.delivery_tag)
        if len(got) == expected:
            break
    connection.close()
    return got


def test_replay_routes_by_the_event_not_by_a_forged_header(amqp_url):
    # Given a dead cancel whose header claims the routing key of a job submission
    ev = event("job-forged")
    dead_letter(amqp_url, encode_event(ev),
                event_properties(ev, {"x-shotline-routing-key": "job.submitted.rydberg"}))
    # When it is replayed
    replay = shotline(amqp_url, "dlq", "replay", SPOOLER_CANCELS.name)
    replay.communicate(timeout=60)
    assert replay.returncode == 0
    # Then it goes back under its own event's key: to the cancel queue, never to the job queue
    assert drain(amqp_url, SPOOLER_CANCELS.name, 1) == [("job.cancel_requested.rydberg", "job-forged")]
    assert queue_depth(amqp_url, SPOOLER_JOBS.name) == 0
    assert dlq_depth(amqp_url) == 0


def test_replay_leaves_an_undecodable_dead_letter_with_a_one_line_error(amqp_url):
    # Given a body that is no valid event (a schema error spanning lines) between two good ones
    good_a, good_b = event("job-1"), event("job-2")
    bad = encode_event(event("job-bad")).replace(b'"requested_by":"bob"', b'"requested_by":7')
    dead_letter(amqp_url, encode_event(good_a), event_properties(good_a))
    dead_letter(amqp_url, bad, pika.BasicProperties(type="JobCancelRequested", message_id="m-bad",
                                                    delivery_mode=2))
    dead_letter(amqp_url, encode_event(good_b), event_properties(good_b))
    # When they are replayed
    replay = shotline(amqp_url, "dlq", "replay", SPOOLER_CANCELS.name)
    _, err = replay.communicate(timeout=60)
    # Then the good ones are back at work, the bad one stays, named in exactly one error line
    assert replay.returncode == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: m-bad stays in {SPOOLER_CANCELS.dead_letter_queue}: "
                                "invalid JobCancelRequested")
    assert "requested_by" in errors[0]
    assert [job for _, job in drain(amqp_url, SPOOLER_CANCELS.name, 2)] == ["job-1", "job-2"]
    assert dlq_depth(amqp_url) == 1


def test_unknown_queue_is_a_clear_error(amqp_url):
    proc = shotline(amqp_url, "dlq", "show", "nope.nothing")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "no work queue named 'nope.nothing'" in err
