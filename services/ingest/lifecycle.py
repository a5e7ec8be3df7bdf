"""Job lifecycle rules: how an event's transition merges into a job's state, never backwards."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from contracts.status import JobStatus

#: Order in which a job may move; every final state shares the top rank.
_RANK = {
    JobStatus.INITIALIZING: 0,
    JobStatus.QUEUED: 1,
    JobStatus.RUNNING: 2,
    JobStatus.DONE: 3,
    JobStatus.ERROR: 3,
    JobStatus.CANCELLED: 3,
}
UNFINISHED = (JobStatus.INITIALIZING, JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True)
class JobState:
    """The mutable part of a job, as the store keeps it."""

    status: JobStatus
    detail: str
    error_message: str = "None"
    shots_done: int | None = None
    shots_total: int | None = None
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class Transition:
    """What one event says about a job; fields left None say nothing."""

    status: JobStatus
    detail: str | None = None
    error_message: str | None = None
    shots_done: int | None = None
    shots_total: int | None = None
    result: dict[str, Any] | None = None


def _max(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def merge(current: JobState, change: Transition) -> JobState:
    """The state after ``change``; ``current`` itself when the change would move backwards.

    A final state is never left (a late ``JobStatusChanged`` after ``JobDone`` is ignored), a
    lower rank never replaces a higher one, and progress counters only grow, so redelivered
    or reordered events cannot undo what a later event established.
    """
    if current.status.is_final:
        return current
    if _RANK[change.status] < _RANK[current.status]:
        return current
    # A progress report older than the one applied (fewer shots done) keeps the newer text.
    stale = (change.status == current.status and change.shots_done is not None
             and current.shots_done is not None and change.shots_done < current.shots_done)
    done = _max(current.shots_done, change.shots_done)
    total = change.shots_total if change.shots_total is not None else current.shots_total
    return replace(
        current,
        status=change.status,
        detail=change.detail if change.detail is not None and not stale else current.detail,
        error_message=(
            change.error_message if change.error_message is not None else current.error_message
        ),
        shots_done=done,
        shots_total=total,
        result=change.result if change.result is not None else current.result,
    )
