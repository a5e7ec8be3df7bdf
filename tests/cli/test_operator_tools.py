"""Operator tools against the real broker: following events, showing and replaying a DLQ."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pika
import pytest

from contracts.events import JobCancelRequested, encode_event
from contracts.topology import DEAD_LETTER_EXCHANGE, SPOOLER_CANCELS
from services.common.bus import Publisher
from services.common.bus.publisher import event_properties

pytestmark = pytest.mark.rabbit


def shotline(amqp_url: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "SHOTLINE_AMQP_URL": amqp_url}
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
        props = event_properties(ev, {"x-shotline-routing-key": ev.routing_key()})
        dead_letter(amqp_url, encode_event(ev), props)
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


def test_unknown_queue_is_a_clear_error(amqp_url):
    proc = shotline(amqp_url, "dlq", "show", "nope.nothing")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "no work queue named 'nope.nothing'" in err
