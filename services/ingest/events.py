"""Folds the job lifecycle events of INGEST_JOB_EVENTS into the store, idempotently."""

from __future__ import annotations

import asyncio
from concurrent.futures import TimeoutError as FutureTimeout

import structlog

from contracts.events import (
    Event, JobCancelled, JobDone, JobFailed, JobSpooled, JobStatusChanged,
)
from contracts.status import JobStatus
from contracts.topology import INGEST_JOB_EVENTS
from services.common.bus import MessageContext, PermanentError, Route, TransientError
from services.ingest.lifecycle import Transition
from services.ingest.store import JobStore

log = structlog.get_logger(__name__)
#: How long the consumer thread waits for the loop to apply one event before retrying it.
APPLY_TIMEOUT_S = 10.0


def transition_for(event: Event) -> Transition:
    """What an event means for its job's state (a pure function).

    Raises:
        PermanentError: an event type this queue should never carry.
    """
    if isinstance(event, JobSpooled):
        return Transition(JobStatus.RUNNING, detail="Compiled into shots.", shots_done=0,
                          shots_total=event.total_shots)
    if isinstance(event, JobStatusChanged):
        status = event.status
        if status == JobStatus.DONE:
            # DONE needs the result, which only JobDone carries; a DONE without it would be
            # final yet unreadable, so it counts as progress until JobDone arrives.
            status = JobStatus.RUNNING
        error = event.detail if status == JobStatus.ERROR else None
        return Transition(status, detail=event.detail, error_message=error,
                          shots_done=event.shots_done, shots_total=event.shots_total)
    if isinstance(event, JobDone):
        result = {**event.result, "status": "finished"}
        return Transition(JobStatus.DONE, detail="Done.", result=result)
    if isinstance(event, JobFailed):
        return Transition(JobStatus.ERROR, detail=f"Failed during {event.stage}.",
                          error_message=f"{event.stage}: {event.reason}")
    if isinstance(event, JobCancelled):
        return Transition(JobStatus.CANCELLED,
                          detail=f"Cancelled; {event.shots_dropped} shots dropped.",
                          error_message="the job was cancelled by its owner")
    raise PermanentError(f"{type(event).__name__} is not a job lifecycle event")


async def apply_event(store: JobStore, event: Event) -> bool:
    """Apply one event; False if it was already applied, or changed nothing."""
    return await store.apply(event.message_id, event.job_id, transition_for(event))


def event_route(store: JobStore, loop: asyncio.AbstractEventLoop) -> Route:
    """The consumer route: the handler runs on the consumer's worker thread and hands the
    event to the event loop, which owns the store; the ack follows the store's commit."""

    def handle(event: Event, ctx: MessageContext) -> None:
        if loop.is_closed():
            raise TransientError("the ingest is shutting down")
        future = asyncio.run_coroutine_threadsafe(apply_event(store, event), loop)
        try:
            changed = future.result(APPLY_TIMEOUT_S)
        except FutureTimeout as exc:
            future.cancel()
            raise TransientError("the job store did not answer in time") from exc
        log.info("job_event", kind=type(event).__name__, job_id=event.job_id, changed=changed)

    return Route(INGEST_JOB_EVENTS, handle)
