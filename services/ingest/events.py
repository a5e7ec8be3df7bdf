"""Folds the job lifecycle events of INGEST_JOB_EVENTS into the store, idempotently."""

from __future__ import annotations

from functools import singledispatch

from contracts.events import Event, JobCancelled, JobDone, JobFailed, JobSpooled, JobStatusChanged
from contracts.status import JobStatus
from services.ingest.lifecycle import Transition
from services.ingest.store import JobStore

#: The events this queue carries; the ingest's handler accepts exactly these.
JobLifecycleEvent = JobSpooled | JobStatusChanged | JobDone | JobFailed | JobCancelled


@singledispatch
def transition_for(event: Event) -> Transition:
    """What an event means for its job's state (a pure function, one case per event class)."""
    raise TypeError(f"{type(event).__name__} is not a job lifecycle event")


@transition_for.register
def _(event: JobSpooled) -> Transition:
    return Transition(JobStatus.RUNNING, detail="Compiled into shots.", shots_done=0,
                      shots_total=event.total_shots)


@transition_for.register
def _(event: JobStatusChanged) -> Transition:
    status = event.status
    if status == JobStatus.DONE:
        # DONE needs the result, which only JobDone carries; a DONE without it would be final
        # yet unreadable, so it counts as progress until JobDone arrives.
        status = JobStatus.RUNNING
    error = event.detail if status == JobStatus.ERROR else None
    return Transition(status, detail=event.detail, error_message=error,
                      shots_done=event.shots_done, shots_total=event.shots_total)


@transition_for.register
def _(event: JobDone) -> Transition:
    return Transition(JobStatus.DONE, detail="Done.", result={**event.result, "status": "finished"})


@transition_for.register
def _(event: JobFailed) -> Transition:
    return Transition(JobStatus.ERROR, detail=f"Failed during {event.stage}.",
                      error_message=f"{event.stage}: {event.reason}")


@transition_for.register
def _(event: JobCancelled) -> Transition:
    return Transition(JobStatus.CANCELLED, detail=f"Cancelled; {event.shots_dropped} shots dropped.",
                      error_message="the job was cancelled by its owner")


async def apply_event(store: JobStore, event: JobLifecycleEvent) -> bool:
    """Apply one event; False if it was already applied, or changed nothing."""
    return await store.apply(event.message_id, event.job_id, transition_for(event))
