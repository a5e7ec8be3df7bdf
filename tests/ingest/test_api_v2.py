"""The v2 API end to end against the real broker: submit, queue, progress, result, cancel.

Needs RabbitMQ: each test has its own vhost (``amqp_url``); job events are applied to the
store as the consumer would (the consumer path itself is in test_event_consumer.py).
"""

from __future__ import annotations


import pika
import pytest
from aiohttp.test_utils import TestClient

from contracts.events import JobDone, JobFailed, JobSpooled, JobStatusChanged, decode_event
from contracts.status import JobStatus
from contracts.topology import SPOOLER_CANCELS, SPOOLER_JOBS
from services.ingest.events import apply_event
from services.ingest.sqlite_store import SqliteJobStore

from tests.ingest.conftest import ALICE, BOB, FERMION_JOB, SPIN_JOB, status_of, submit, v2_body

pytestmark = pytest.mark.rabbit


def take(amqp_url: str, queue: str):
    """The next message of ``queue`` (already there: post_job returns after the confirm).

    basic.get is refused on single-active-consumer quorum queues, so this consumes one.
    """
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        for method, properties, body in channel.consume(queue, inactivity_timeout=10):
            assert method is not None, f"nothing in {queue}"
            channel.basic_ack(method.delivery_tag)
            channel.cancel()
            return decode_event(properties.type, body)
    finally:
        connection.close()
    raise AssertionError("unreachable")


def ev(cls, job_id: str, backend: str = "fermions", **fields):
    return cls.create("test", job_id=job_id, backend=backend, **fields)


async def test_post_job_is_queued_after_the_confirm(live_api: TestClient, amqp_url: str) -> None:
    # When a job is posted the v2 way (qiskit-cold-atom's request)
    response = await live_api.post("/api/v2/fermions/post_job", json=v2_body(FERMION_JOB))
    body = await response.json()
    # Then it answers QUEUED with a job id, and JobSubmitted is already in the spooler's queue
    assert response.status == 200
    assert body["status"] == "QUEUED" and body["detail"] == "Queued: position 1 of 1"
    event = take(amqp_url, SPOOLER_JOBS.name)
    assert event.job_id == body["job_id"] and event.owner == "alice"
    assert event.payload["experiment_0"].shots == 4


async def test_queue_position_and_progress(live_api: TestClient, store: SqliteJobStore) -> None:
    ids = [await submit(live_api) for _ in range(3)]
    assert (await status_of(live_api, ids[2]))["detail"] == "Queued: position 3 of 3"
    await apply_event(store, ev(JobSpooled, ids[0], experiments=[], total_shots=4))
    await apply_event(store, ev(JobStatusChanged, ids[0], status=JobStatus.RUNNING,
                                detail="1 of 4", shots_done=1, shots_total=4))
    first = await status_of(live_api, ids[0])
    assert first["status"] == "RUNNING" and first["detail"] == "Running: 1 of 4 shots done"
    assert (await status_of(live_api, ids[2]))["detail"] == "Queued: position 3 of 3"


async def test_result_lifecycle(live_api: TestClient, store: SqliteJobStore) -> None:
    job_id = await submit(live_api)
    url = "/api/v2/fermions/get_job_result"
    params = {"job_id": job_id, "token": ALICE}
    # While not done: the status dict, which keeps qiskit polling
    pending = await (await live_api.get(url, params=params)).json()
    assert pending["status"] == "QUEUED"
    result = {"backend_name": "shotline_fermions_simulator", "backend_version": "0.1",
              "job_id": job_id, "qobj_id": None, "success": True,
              "results": [{"header": {"name": "experiment_0"}, "shots": 4, "success": True,
                           "data": {"memory": ["1 0 1 1"] * 4}}]}
    await apply_event(store, ev(JobDone, job_id, result=result))
    done = await (await live_api.get(url, params=params)).json()
    assert done["status"] == "finished" and done["results"][0]["data"]["memory"][0] == "1 0 1 1"
    assert (await status_of(live_api, job_id))["status"] == "DONE"


async def test_failed_job_result_is_lowercase_error(live_api: TestClient, store: SqliteJobStore) -> None:
    job_id = await submit(live_api, SPIN_JOB, backend="singlequdit")
    await apply_event(store, ev(JobFailed, job_id, "singlequdit", stage="execution", reason="laser"))
    response = await live_api.get("/api/v2/singlequdit/get_job_result",
                                  params={"job_id": job_id, "token": ALICE})
    body = await response.json()
    assert response.status == 200
    assert body == {"job_id": job_id, "status": "error", "detail": "Failed during execution.",
                    "error_message": "execution: laser"}
    status = await status_of(live_api, job_id, backend="singlequdit")
    assert status["status"] == "ERROR" and status["error_message"] == "execution: laser"


async def test_cancel_queued_job(live_api: TestClient, store: SqliteJobStore, amqp_url: str) -> None:
    from contracts.events import JobCancelled

    job_id = await submit(live_api)
    response = await live_api.post("/api/v2/fermions/cancel_job",
                                   params={"job_id": job_id, "token": ALICE})
    body = await response.json()
    assert response.status == 202 and body["detail"].endswith("cancel requested")
    request = take(amqp_url, SPOOLER_CANCELS.name)
    assert request.job_id == job_id and request.requested_by == "alice"
    await apply_event(store, ev(JobCancelled, job_id, shots_dropped=4))
    assert (await status_of(live_api, job_id))["status"] == "CANCELLED"
    # Cancelling again, now that it is final, is a conflict
    again = await live_api.delete(f"/api/v2/jobs/{job_id}", params={"token": ALICE})
    assert again.status == 409 and (await again.json())["status"] == "ERROR"


async def test_delete_cancels_by_id(live_api: TestClient, amqp_url: str) -> None:
    job_id = await submit(live_api)
    response = await live_api.delete(f"/api/v2/jobs/{job_id}",
                                     headers={"Authorization": f"Bearer {ALICE}"})
    assert response.status == 202
    assert take(amqp_url, SPOOLER_CANCELS.name).job_id == job_id


async def test_idempotency_key(live_api: TestClient, amqp_url: str) -> None:
    headers = {"Idempotency-Key": "run-42"}
    first = await submit(live_api, headers=headers)
    again = await submit(live_api, headers=headers)
    assert first == again
    other = dict(FERMION_JOB, experiment_0=dict(FERMION_JOB["experiment_0"], shots=5))
    response = await live_api.post("/api/v2/fermions/post_job", json=v2_body(other), headers=headers)
    body = await response.json()
    assert response.status == 409 and body["job_id"] == first and body["status"] == "ERROR"
    # Only one job was published
    take(amqp_url, SPOOLER_JOBS.name)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    assert connection.channel().queue_declare(SPOOLER_JOBS.name, passive=True).method.message_count == 0
    connection.close()


async def test_listing_is_own_jobs_newest_first_paginated(live_api: TestClient) -> None:
    mine = [await submit(live_api) for _ in range(3)]
    spin = await submit(live_api, SPIN_JOB, backend="singlequdit")
    await submit(live_api, token=BOB)
    page = await (await live_api.get("/api/v2/jobs", params={"token": ALICE, "limit": "2"})).json()
    assert [j["job_id"] for j in page["jobs"]] == [spin, mine[2]]
    rest = await (await live_api.get("/api/v2/jobs", params={
        "token": ALICE, "limit": "2", "cursor": page["next_cursor"]})).json()
    assert [j["job_id"] for j in rest["jobs"]] == [mine[1], mine[0]] and rest["next_cursor"] is None
    only = await (await live_api.get("/api/v2/jobs", params={
        "token": ALICE, "backend": "shotline_singlequdit_simulator", "status": "queued"})).json()
    assert [j["job_id"] for j in only["jobs"]] == [spin]


async def test_backends_and_backend_status(live_api: TestClient) -> None:
    configs = await (await live_api.get("/api/v2/backends")).json()
    assert {c["display_name"] for c in configs} == {"fermions", "singlequdit", "multiqudit", "rydberg"}
    await submit(live_api)
    status = await (await live_api.get("/api/v2/fermions/get_backend_status")).json()
    assert status["operational"] is True and status["pending_jobs"] == 1
    assert status["backend_name"] == "shotline_fermions_simulator"


async def test_bearer_payload_protocol(live_api: TestClient, amqp_url: str) -> None:
    response = await live_api.post("/api/v3/fermions/post_job", json={"payload": FERMION_JOB},
                                   headers={"Authorization": f"Bearer {ALICE}"})
    body = await response.json()
    assert response.status == 200
    job_id = body["job_id"]
    status = await live_api.get("/api/v2/fermions/get_job_status", params={"job_id": job_id},
                                headers={"Authorization": f"Bearer {ALICE}"})
    assert (await status.json())["status"] == "QUEUED"
    assert take(amqp_url, SPOOLER_JOBS.name).job_id == job_id
