"""Broker down: post_job answers 503 with a status body and leaves no job half-accepted.

Decision: the stored job is kept as ERROR with the reason (an audit trail, and a late
confirm of a publish that did get through cannot revive it), its Idempotency-Key is freed so
the client's retry makes a new job, and it does not count against the unfinished-job limit.
"""

from __future__ import annotations


from aiohttp.test_utils import TestClient

from services.common.bus import AsyncPublisher
from services.ingest.sqlite_store import SqliteJobStore

from tests.ingest.conftest import ALICE, FERMION_JOB, ClientFactory, v2_body


async def test_503_when_the_broker_is_unreachable(make_client: ClientFactory, port: int,
                                                  store: SqliteJobStore) -> None:
    # Given an ingest whose broker URL points at a closed port
    dead = f"amqp://guest:guest@127.0.0.1:{port}/%2F"
    client: TestClient = await make_client(AsyncPublisher(dead, "ingest-test"), amqp_url=dead,
                                            broker_ready=None)
    # When a job is posted
    response = await client.post("/api/v2/fermions/post_job", json=v2_body(FERMION_JOB),
                                 headers={"Idempotency-Key": "try-1"})
    body = await response.json()
    # Then 503 with the error body and a Retry-After
    assert response.status == 503, body
    assert body["status"] == "ERROR" and "not queued" in body["detail"]
    assert "broker" in body["error_message"]
    assert response.headers["Retry-After"]
    # And nothing is left waiting: the only job is ERROR with the reason, no key is held
    assert await store.count_unfinished("alice") == 0
    [job] = await store.list_jobs("alice", backend=None, status=None, before_seq=None, limit=10)
    assert job.status.value == "ERROR" and "broker" in job.state.error_message
    assert await store.find_key("alice", "try-1") is None
    listing = await (await client.get("/api/v2/jobs", params={"token": ALICE})).json()
    assert [j["status"] for j in listing["jobs"]] == ["ERROR"]
    # And readiness says why
    ready = await client.get("/readyz")
    assert ready.status == 503 and (await ready.json())["broker"] is False
