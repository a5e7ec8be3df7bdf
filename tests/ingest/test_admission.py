"""Admission holds only what the pipeline can carry: a job too large as a message is refused
before it is stored, and a job whose publish fails ends ERROR and frees its owner's limit."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from contracts.events import MAX_MESSAGE_BYTES, Event, MessageTooLarge, encode_event
from services.common.bus import PublishFailed
from services.ingest.sqlite_store import SqliteJobStore
from tests.ingest.conftest import ALICE, FERMION_JOB, ClientFactory, RecordingPublisher

POST = "/api/v3/fermions/post_job"


def wide_job(experiments: int) -> dict[str, Any]:
    """250 eight-wire loads per experiment: 2,000 instructions each once split per wire."""
    body = {"instructions": [["load", list(range(8)), []]] * 249 + [["measure", [0], []]],
            "num_wires": 8, "shots": 1, "wire_order": "interleaved"}
    return {f"experiment_{i}": body for i in range(experiments)}


async def post(client: TestClient, job: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.post(POST, json={"payload": job},
                                 headers={"Authorization": f"Bearer {ALICE}"})
    return response.status, await response.json()


class FailingPublisher(RecordingPublisher):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def publish(self, event: Event) -> None:
        raise self.error


class EncodingPublisher(RecordingPublisher):
    """Encodes as the real publisher does, so its size limit applies."""

    async def publish(self, event: Event) -> None:
        encode_event(event)
        await super().publish(event)


async def test_a_job_too_large_as_a_message_is_refused_before_it_is_stored(
        make_client: ClientFactory, store: SqliteJobStore) -> None:
    publisher = EncodingPublisher()
    client = await make_client(publisher, max_body_bytes=4 * 1024 * 1024)
    # ~1.6 MB of body; split per wire it is ~4.5 MB as a JobSubmitted (a 500 after 15 s before).
    status, body = await post(client, wide_job(140))
    assert status == 413, body
    assert body["status"] == "ERROR" and str(MAX_MESSAGE_BYTES) in body["error_message"]
    assert "split it" in body["error_message"] and "job_id" not in body
    assert publisher.events == [] and await store.count_unfinished("alice") == 0
    # The largest job that fits is accepted and published whole.
    status, body = await post(client, wide_job(120))
    assert status == 200, body
    assert len(encode_event(publisher.events[0])) <= MAX_MESSAGE_BYTES


async def test_a_failed_publish_ends_the_job_error_and_frees_the_limit(
        make_client: ClientFactory, store: SqliteJobStore) -> None:
    for error, code, reason in (
            (PublishFailed("broker did not confirm"), 503, "the job queue did not take the job"),
            (MessageTooLarge("JobSubmitted of 5000000 bytes exceeds 4194304"), 413,
             "the job is too large to queue: JobSubmitted of 5000000 bytes")):
        client = await make_client(FailingPublisher(error), max_unfinished_jobs=1)
        status, body = await post(client, FERMION_JOB)
        assert status == code, body
        job = await store.get_job(body["job_id"], "alice")
        assert job is not None and job.status.value == "ERROR", job
        assert job.state.error_message.startswith(reason), job.state
        assert await store.count_unfinished("alice") == 0
        # The limit of 1 unfinished job is free again: the next job is admitted.
        ok = await make_client(RecordingPublisher(), max_unfinished_jobs=1)
        status, body = await post(ok, FERMION_JOB)
        assert status == 200, body
        await store.reject_job(body["job_id"], "test: make room for the next case")


async def test_an_unexpected_publish_error_still_ends_the_job(
        make_client: ClientFactory, store: SqliteJobStore) -> None:
    client = await make_client(FailingPublisher(RuntimeError("a bug")))
    status, body = await post(client, FERMION_JOB)
    assert status == 500 and body["status"] == "ERROR"
    assert await store.count_unfinished("alice") == 0
