"""Fixtures shared by the whole suite: an isolated broker vhost, temp homes and free ports."""

from __future__ import annotations

import os

# labscript_utils.h5_lock would start a zlock daemon and patch h5py on import; READTHEDOCS=1
# (its only use in the code) turns both off. It must be set before anything imports labscript.
os.environ.setdefault("READTHEDOCS", "1")

# The labscript profile must exist before labscript_utils is imported, and h5_lock must come
# before any h5py import: do both before any test module imports anything.
from services.spooler.labscript_env import prepare_labscript  # noqa: E402

prepare_labscript()

import socket
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from services.common.bus.admin import Management

AMQP_BASE = os.environ.get("SHOTLINE_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672")
MANAGEMENT_URL = os.environ.get("SHOTLINE_TEST_MANAGEMENT", "http://127.0.0.1:15672")


@pytest.fixture(scope="session")
def management() -> Management:
    mgmt = Management(MANAGEMENT_URL, AMQP_BASE + "/")
    try:
        mgmt.request("GET", "/overview")
    except Exception as exc:  # the suite needs the real broker: fail loudly, never skip
        pytest.fail(f"RabbitMQ management API not reachable at {MANAGEMENT_URL}: {exc}. "
                    "Run `make broker` (deploy/ensure_broker.sh).")
    return mgmt


@pytest.fixture
def vhost(management: Management) -> Iterator[str]:
    """A fresh vhost for this test only, deleted afterwards (so the suite can run twice at once)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    management.create_vhost(name)
    yield name
    management.delete_vhost(name)


@pytest.fixture
def bare_amqp_url(vhost: str) -> str:
    """URL of the test's vhost before any exchange or queue exists."""
    return f"{AMQP_BASE}/{quote(vhost, safe='')}"


@pytest.fixture
def amqp_url(bare_amqp_url: str) -> str:
    """URL of the test's vhost with the whole topology declared, as a broker booted with
    deploy/rabbitmq/definitions.json has it: every event has a queue to go to."""
    import pika

    from contracts.topology import QUEUES
    from services.common.bus.declare import declare_queues

    connection = pika.BlockingConnection(pika.URLParameters(bare_amqp_url))
    try:
        declare_queues(connection.channel(), QUEUES)
    finally:
        connection.close()
    return bare_amqp_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value.

    Only for state that offers no signal to wait on, such as the management API's connection
    list (refreshed by its stats collector every few seconds).
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def simulator():
    """The emulator's physics worker process, shared by the tests that run shots directly."""
    from services.emulator.simulation import Simulator

    sim = Simulator()
    yield sim
    sim.close()
