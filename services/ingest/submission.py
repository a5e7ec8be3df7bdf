"""Accepting a job: validate, limit, store, publish with confirm, queue; and cancelling one."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog

from contracts.backends import BackendSpec
from contracts.events import MAX_MESSAGE_BYTES, JobCancelRequested, JobSubmitted, MessageTooLarge
from contracts.job import JobPayload
from contracts.status import RECEIVED_DETAIL, JobStatus
from contracts.validation import JobRejected, validate_job
from services.common.bus import PublishFailed
from services.ingest.context import Services
from services.ingest.errors import ApiError
from services.ingest.limits import retry_after_header
from services.ingest.store import (
    Created, IdempotencyClaim, StoredJob, JobStore, KeyConflict, NewJob, Replayed,
)

log = structlog.get_logger(__name__)
PRODUCER = "ingest"
QUEUED_DETAIL = "Passed validation; queued."
#: A publish that has not been confirmed by then is treated as failed (the job is rejected).
PUBLISH_TIMEOUT_S = 15.0
NOT_QUEUED = ("the job queue did not take the job (the message broker refused it or could not be "
              "reached); nothing was run: submit it again")


def new_job_id() -> str:
    # 96 random bits in the 24-hex form sqooler's MongoDB/local storage used.
    return uuid.uuid4().hex[:24]


def fingerprint(spec: BackendSpec, payload: JobPayload) -> str:
    """Identity of a request for Idempotency-Key: the backend and the normalised job."""
    canonical = json.dumps({"backend": spec.display_name, "job": payload.to_wire()},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class _ValidationPool:
    """Validation off the event loop: N workers and a short waiting line, never more."""

    def __init__(self, workers: int, line: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="validate")
        self.slots = asyncio.Semaphore(workers)
        self.admitted = 0
        self.bound = workers + line

    @contextlib.asynccontextmanager
    async def admission(self) -> AsyncIterator[None]:
        """A place among the submissions being read, parsed or validated; 503 when none is
        free. Taken before the body is read, so a flood beyond the bound costs no parsing."""
        if self.admitted >= self.bound:
            raise ApiError(503, "Service unavailable: too many jobs being validated.",
                           f"at most {self.bound} jobs are validated or waiting at once; "
                           "retry later", headers={"Retry-After": "1"})
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    async def run(self, spec: BackendSpec, raw: Any) -> JobPayload:
        async with self.slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, validated, spec, raw)


_POOLS: dict[tuple[int, int], _ValidationPool] = {}


def admission(svc: Services) -> contextlib.AbstractAsyncContextManager[None]:
    """Wraps a whole submission (body included): see ``_ValidationPool.admission``."""
    return _pool(svc).admission()


def _pool(svc: Services) -> _ValidationPool:
    # One pool per (workers, line) setting pair per process; the ingest runs one settings object.
    shape = (svc.settings.validate_workers, svc.settings.validate_queue)
    if shape not in _POOLS:
        _POOLS[shape] = _ValidationPool(*shape)
    return _POOLS[shape]


def validated(spec: BackendSpec, raw: Any) -> JobPayload:
    """The job normalised by the contracts, or 422 naming experiment, instruction and rule;
    413 if the normalised job would not fit in one message (runs in the validation pool)."""
    try:
        payload = validate_job(spec, raw)
    except JobRejected as exc:
        violations = [v.model_dump(mode="json") for v in exc.violations]
        raise ApiError(
            422, "Failed json sanity check.", str(exc),
            extra={"violations": violations, "truncated": exc.truncated},
        ) from None
    size = submitted_bytes(spec, payload)
    if size > MAX_MESSAGE_BYTES:
        raise ApiError(413, "The job is too large once validated.",
                       f"the validated job takes {size} bytes as a message, over the limit of "
                       f"{MAX_MESSAGE_BYTES} (a `load` on several wires counts once per wire); "
                       "split it into smaller jobs")
    return payload


def submitted_bytes(spec: BackendSpec, payload: JobPayload) -> int:
    """Bytes of the JobSubmitted the job becomes, with the longest owner and job id possible."""
    event = JobSubmitted.create(PRODUCER, job_id="0" * 64, backend=spec.display_name,
                                owner="x" * 64, payload=payload)
    return len(event.model_dump_json().encode())


async def check_limits(svc: Services, owner: str) -> None:
    """The rate and unfinished-job limits; 429 with Retry-After when over one."""
    wait = svc.limiter.try_acquire(owner)
    if wait > 0:
        raise ApiError(429, "Too many submissions.",
                       f"at most {svc.settings.submit_rate:g} jobs per second "
                       f"(burst {svc.settings.submit_burst}); retry later",
                       headers={"Retry-After": retry_after_header(wait)})
    unfinished = await svc.store.count_unfinished(owner)
    if unfinished >= svc.settings.max_unfinished_jobs:
        svc.limiter.refund(owner)
        raise ApiError(429, "Too many unfinished jobs.",
                       f"{unfinished} jobs are waiting or running; the limit is "
                       f"{svc.settings.max_unfinished_jobs}",
                       headers={"Retry-After": str(svc.settings.unfinished_retry_after_s)})


async def submit(
    svc: Services, owner: str, spec: BackendSpec, raw_job: Any, key: str | None,
    *, limits_checked: bool = False,
) -> StoredJob:
    """Accept a job. It is QUEUED (or further) when this returns.

    Raises:
        ApiError: 422 invalid job, 409 key reused with another job, 429 over a limit,
            503 broker unavailable (the stored job is then ERROR and its key is freed).
    """
    # A retry of an accepted job answers with that job even when the user is now at a
    # limit: the retry is not a new submission. Its key is looked up before the limits; its
    # fingerprint is of the normalised job, so it is compared after validation.
    existing = await svc.store.find_key(owner, key) if key else None
    if existing is None and not limits_checked:
        # Limits come before validation, so an invalid job costs rate-limit credit and a
        # flood of them is turned away before any CPU is spent on it.
        await check_limits(svc, owner)
    payload = await _pool(svc).run(spec, raw_job)
    claim = IdempotencyClaim(key, fingerprint(spec, payload)) if key else None
    if claim is not None and existing is not None:
        return await _replay(svc, owner, claim, *existing)
    job = NewJob(new_job_id(), owner, spec.display_name, payload.to_wire(), RECEIVED_DETAIL)
    outcome = await svc.store.create_job(job, claim)
    if isinstance(outcome, KeyConflict):
        svc.limiter.refund(owner)
        raise _conflict(outcome.job_id)
    if isinstance(outcome, Replayed):
        svc.limiter.refund(owner)
        return outcome.job
    assert isinstance(outcome, Created)
    return await _queue(svc, outcome.job)


async def _queue(svc: Services, job: StoredJob) -> StoredJob:
    """Publish the stored job (confirmed) and mark it QUEUED; 503 and ERROR if not confirmed."""
    event = JobSubmitted.create(PRODUCER, job_id=job.job_id, backend=job.backend,
                                owner=job.owner, payload=job.payload)
    try:
        await asyncio.wait_for(svc.publisher.publish(event), PUBLISH_TIMEOUT_S)
    except (PublishFailed, asyncio.TimeoutError) as exc:
        log.error("job_not_queued", job_id=job.job_id, error=str(exc)[:500])
        await _unadmit(svc, job, NOT_QUEUED)
        raise ApiError(503, "Service unavailable: the job was not queued.", NOT_QUEUED,
                       job_id=job.job_id, headers={"Retry-After": "10"}) from None
    except MessageTooLarge as exc:  # validation bounds the size; this is the last line
        await _unadmit(svc, job, f"the job is too large to queue: {exc}")
        raise ApiError(413, "The job is too large once validated.", str(exc),
                       job_id=job.job_id) from None
    except BaseException:
        # Whatever else went wrong, the stored job must not wait in INITIALIZING for a
        # restart, counting against its owner's limit.
        await asyncio.shield(_unadmit(svc, job, NOT_QUEUED))
        raise
    await svc.store.mark_queued(job.job_id, QUEUED_DETAIL)
    log.info("job_queued", job_id=job.job_id, backend=job.backend, owner=job.owner)
    stored = await svc.store.get_job(job.job_id, job.owner)
    assert stored is not None
    return stored


async def _unadmit(svc: Services, job: StoredJob, reason: str) -> None:
    """Undo an admission whose publish failed: the job ends ERROR with ``reason`` and no longer
    counts against its owner's unfinished jobs or rate."""
    await svc.store.reject_job(job.job_id, reason)
    svc.limiter.refund(job.owner)


async def _replay(
    svc: Services, owner: str, claim: IdempotencyClaim, stored_fingerprint: str, job_id: str
) -> StoredJob:
    if stored_fingerprint != claim.fingerprint:
        raise _conflict(job_id)
    job = await svc.store.get_job(job_id, owner)
    if job is None:  # the key outlived its job; cannot happen with the SQLite store
        raise _conflict(job_id)
    if job.status == JobStatus.INITIALIZING:
        # Stored but never confirmed queued: the ingest died between storing and publishing,
        # and the job would wait forever. The client's retry with
        # the same key finishes the submission; should the first publish have got through
        # after all, the second is harmless (the spooler keys on the job id).
        return await _queue(svc, job)
    return job


def _conflict(job_id: str) -> ApiError:
    return ApiError(409, "Idempotency-Key already used with a different job.",
                    "send a new Idempotency-Key for a different job", job_id=job_id)


async def cancel(svc: Services, job: StoredJob, requested_by: str) -> None:
    """Ask the spooler to cancel; the job becomes CANCELLED when it confirms (JobCancelled).

    Raises:
        ApiError: 409 for a finished job, 503 when the request cannot be published.
    """
    if job.status.is_final:
        raise ApiError(409, f"The job is already {job.status.value}.",
                       "only a job that is waiting or running can be cancelled", job_id=job.job_id)
    event = JobCancelRequested.create(PRODUCER, job_id=job.job_id, backend=job.backend,
                                      requested_by=requested_by)
    try:
        await asyncio.wait_for(svc.publisher.publish(event), PUBLISH_TIMEOUT_S)
    except (PublishFailed, asyncio.TimeoutError):
        raise ApiError(503, "Service unavailable: the cancel request was not sent.",
                       "the message broker is unreachable; try again", job_id=job.job_id,
                       headers={"Retry-After": "10"}) from None
    await svc.store.request_cancel(job.job_id)


#: A submission is stored and published within milliseconds; one still INITIALIZING after
#: this long was cut short by a crash between the two steps.
ORPHAN_AFTER_S = 60.0
ORPHANED = ("the service stopped before the job was queued; nothing was run and nothing will "
            "be: submit it again")


async def fail_orphans(store: JobStore, now: float) -> list[str]:
    """Mark jobs stored but never published ERROR, so no job stays half-accepted (and none
    counts against its owner's unfinished-job limit). Run at start-up."""
    orphans = await store.stale_initializing(now - ORPHAN_AFTER_S)
    for job_id in orphans:
        await store.reject_job(job_id, ORPHANED)
    return orphans
