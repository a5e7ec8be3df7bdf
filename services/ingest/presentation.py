"""What a user is shown for a job: the status dict, the result body and the listing entry."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from contracts.result import failed_result
from contracts.status import JobStatus, StatusDict
from services.ingest.store import StoredJob

CANCEL_REQUESTED = "cancel requested"


def live_detail(job: StoredJob, position: tuple[int, int] | None) -> str:
    """The detail text, with what only the store knows now: queue position or shot progress."""
    state = job.state
    detail = state.detail
    if state.status == JobStatus.QUEUED and position is not None:
        detail = f"Queued: position {position[0]} of {position[1]}"
    elif state.status == JobStatus.RUNNING and state.shots_total:
        detail = f"Running: {state.shots_done or 0} of {state.shots_total} shots done"
    if job.cancel_requested and not state.status.is_final:
        detail = f"{detail}; {CANCEL_REQUESTED}"
    return detail


def status_dict(job: StoredJob, position: tuple[int, int] | None = None) -> dict[str, Any]:
    """get_job_status: uppercase status, as both qiskit-cold-atom and pennylane-ls compare."""
    return StatusDict(
        job_id=job.job_id, status=job.status, detail=live_detail(job, position),
        error_message=job.state.error_message,
    ).model_dump(mode="json")


def result_body(job: StoredJob, position: tuple[int, int] | None = None) -> dict[str, Any]:
    """get_job_result: the result when DONE, lowercase "error" when it never will be, else
    the status dict (qiskit keeps polling on anything but "finished"/"error")."""
    state = job.state
    if state.status == JobStatus.DONE and state.result is not None:
        # "finished" is forced even if a producer forgot it: without it qiskit polls forever.
        return {**state.result, "job_id": job.job_id, "status": "finished"}
    if state.status == JobStatus.ERROR:
        return failed_result(job.job_id, state.detail, state.error_message)
    if state.status == JobStatus.CANCELLED:
        message = state.error_message if state.error_message != "None" else "the job was cancelled"
        return failed_result(job.job_id, state.detail, message)
    return status_dict(job, position)


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat()


def listing_entry(job: StoredJob, backend_name: str) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "backend": job.backend,
        "backend_name": backend_name,
        "status": job.status.value,
        "detail": live_detail(job, None),
        "error_message": job.state.error_message,
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at),
    }
