"""A job stored by an ingest that died before its publish was confirmed is queued by the client's
retry with the same Idempotency-Key, instead of staying INITIALIZING."""

from __future__ import annotations

from contracts.backends import get_backend
from contracts.events import JobSubmitted
from contracts.validation import validate_job
from services.ingest.sqlite_store import SqliteJobStore
from services.ingest.store import IdempotencyClaim, NewJob
from services.ingest.submission import fingerprint

from tests.ingest.conftest import FERMION_JOB, ClientFactory, publisher_of, status_of, submit


async def test_a_retry_queues_a_job_its_crashed_first_attempt_only_stored(
        make_client: ClientFactory, store: SqliteJobStore) -> None:
    # Given the state a SIGKILL between storing and publishing leaves: the job and its key
    # stored, nothing published
    spec = get_backend("fermions")
    payload = validate_job(spec, FERMION_JOB)
    claim = IdempotencyClaim("retry-me", fingerprint(spec, payload))
    job = NewJob("crashed0001", "alice", "fermions", payload.to_wire(), "Received.")
    await store.create_job(job, claim)
    client = await make_client()
    # When the client retries with the same key
    job_id = await submit(client, headers={"Idempotency-Key": "retry-me"})
    # Then the stored job is published and queued, once
    assert job_id == "crashed0001"
    (event,) = publisher_of(client).events
    assert isinstance(event, JobSubmitted) and event.job_id == job_id
    assert event.payload.to_wire() == payload.to_wire() and event.owner == "alice"
    assert (await status_of(client, job_id))["status"] == "QUEUED"
    # And a further retry publishes nothing more
    assert await submit(client, headers={"Idempotency-Key": "retry-me"}) == job_id
    assert len(publisher_of(client).events) == 1


async def test_a_job_stored_but_never_queued_is_failed_at_start_up(store):
    # Given a job the ingest stored just before it was killed (never published)
    import time

    from services.ingest.submission import ORPHAN_AFTER_S, ORPHANED, fail_orphans
    from services.ingest.store import NewJob

    await store.create_job(NewJob(job_id="orphan000000000000000001", owner="alice", backend="fermions",
                                  payload={}, detail="Got your json."), None)
    fresh = await fail_orphans(store, time.time())
    assert fresh == []  # a submission in progress is left alone
    # When the ingest starts again later
    orphans = await fail_orphans(store, time.time() + ORPHAN_AFTER_S + 1)
    # Then the job is ERROR with a reason the user can act on, and no longer counts as unfinished
    assert orphans == ["orphan000000000000000001"]
    job = await store.get_job("orphan000000000000000001", "alice")
    assert job.status.value == "ERROR" and ORPHANED in job.state.error_message
    assert await store.count_unfinished("alice") == 0
