"""A consumer started while the broker is down waits for it, and both consumer and publisher
carry on across a broker restart. Uses a private broker node (see tests/support)."""

from __future__ import annotations

import queue
import threading

import pika
import pytest

from contracts.events import JobCancelRequested
from contracts.topology import SPOOLER_CANCELS
from services.common.bus import Consumer, Publisher, Route
from tests.support.private_broker import PrivateBroker

pytestmark = pytest.mark.rabbit


def cancel(job_id: str) -> JobCancelRequested:
    return JobCancelRequested.create("test", job_id=job_id, backend="fermions", requested_by="alice")


def test_consumer_waits_for_the_broker_and_survives_its_restart():
    broker = PrivateBroker()
    seen: queue.Queue = queue.Queue()
    consumer = Consumer(broker.amqp_url, "patient", [Route(SPOOLER_CANCELS, {JobCancelRequested: lambda e, c: seen.put(e.job_id)})])
    thread = threading.Thread(target=consumer.run, daemon=True)
    try:
        # Given a consumer started before the broker exists
        thread.start()
        assert not consumer.ready.wait(1.0)
        # When the broker comes up, the consumer connects and consumes
        broker.start()
        assert consumer.ready.wait(60), "consumer did not connect once the broker came up"
        publisher = Publisher(broker.amqp_url, "test")
        publisher.publish(cancel("before-restart"))
        assert seen.get(timeout=30) == "before-restart"
        # When the broker restarts, publisher and consumer both reconnect and carry on
        broker.restart()
        publisher.publish(cancel("after-restart"))
        assert seen.get(timeout=60) == "after-restart"
    finally:
        consumer.stop()
        thread.join(30)
        broker.destroy()
