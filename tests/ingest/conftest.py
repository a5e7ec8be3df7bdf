"""Fixtures for the ingest: a real SQLite store in tmp_path, users, and test clients.

``api`` runs the app with a recording publisher (no broker); ``live_api`` with the real
``AsyncPublisher`` on this test's vhost, for behaviour that involves publishing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from contracts.events import Event
from services.common.bus import AsyncPublisher
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from services.ingest.sqlite_store import SqliteJobStore
from services.ingest.tokens import token_hash

DATA = Path(__file__).resolve().parents[1] / "data"
ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789"


def fixture_job(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


FERMION_JOB = fixture_job("qlued_v2_fermions_showcase.job_load_measure.json")
SPIN_JOB = {"experiment_0": {"instructions": [["load", [0], [50]], ["rlx", [0], [3.14159]],
                                              ["measure", [0], []]],
                             "num_wires": 1, "shots": 3, "wire_order": "sequential"}}


def v2_body(job: dict[str, Any], token: str = ALICE) -> dict[str, Any]:
    return {"job": json.dumps(job), "username": "ignored", "token": token}


class RecordingPublisher:
    """Stands in for the bus where a test is about HTTP behaviour, not publishing."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.closed = False

    async def publish(self, event: Event) -> None:
        self.events.append(event)

    async def aclose(self) -> None:
        self.closed = True


async def always_ready() -> bool:
    return True


def make_settings(tmp_path: Path, amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F",
                  **overrides: Any) -> IngestSettings:
    values: dict[str, Any] = dict(home=tmp_path, amqp_url=amqp_url, submit_rate=1000.0,
                                  submit_burst=1000, max_unfinished_jobs=1000)
    values.update(overrides)
    return IngestSettings(**values)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteJobStore]:
    db = SqliteJobStore(tmp_path / "ingest" / "jobs.sqlite3")
    await db.add_user("alice", token_hash(ALICE))
    await db.add_user("bob", token_hash(BOB))
    yield db
    await db.close()


ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def make_client(tmp_path: Path, store: SqliteJobStore) -> AsyncIterator[ClientFactory]:
    clients: list[TestClient] = []

    async def factory(publisher: Any = None, broker_ready: Any = always_ready,
                      **overrides: Any) -> TestClient:
        settings = make_settings(tmp_path, **overrides)
        app = create_app(settings, store, publisher or RecordingPublisher(),
                         broker_ready=broker_ready)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
async def api(make_client: ClientFactory) -> TestClient:
    return await make_client()


@pytest.fixture
async def live_api(make_client: ClientFactory, amqp_url: str) -> TestClient:
    return await make_client(AsyncPublisher(amqp_url, "ingest-test"), amqp_url=amqp_url)


def publisher_of(client: TestClient) -> RecordingPublisher:
    from services.ingest.context import SERVICES

    return client.app[SERVICES].publisher  # type: ignore[return-value]


async def submit(client: TestClient, job: dict[str, Any] = FERMION_JOB, token: str = ALICE,
                 backend: str = "fermions", **kwargs: Any) -> str:
    response = await client.post(f"/api/v2/{backend}/post_job", json=v2_body(job, token), **kwargs)
    body = await response.json()
    assert response.status == 200, body
    return body["job_id"]


async def status_of(client: TestClient, job_id: str, token: str = ALICE,
                    backend: str = "fermions") -> dict[str, Any]:
    response = await client.get(f"/api/v2/{backend}/get_job_status",
                                params={"job_id": job_id, "token": token})
    assert response.status == 200, await response.text()
    return await response.json()


