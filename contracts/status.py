"""The status dict `{job_id, status, detail, error_message}` every generation of client reads."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Servers since qlue write the *string* "None" for an empty detail/error_message, never null
# (views.py check_request, sqooler get_init_status); clients print it as is.
NONE_PLACEHOLDER = "None"
# Appended notes are joined with "; " and the whole text is capped, so that a job that keeps
# failing cannot grow its status without bound.
RECEIVED_DETAIL = "Got your json."


class JobStatus(StrEnum):
    """Job states; the uppercase strings qiskit-cold-atom and pennylane-ls compare against."""

    INITIALIZING = "INITIALIZING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED)


class StatusDict(BaseModel):
    """What get_job_status returns and post_job answers with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(
        min_length=1, max_length=64, description="Opaque job id.",
        examples=["8780f5ec7eb2426686563b56"],
    )
    status: JobStatus = Field(description="Current state.", examples=["INITIALIZING", "DONE"])
    detail: str = Field(
        default=NONE_PLACEHOLDER,
        description='Progress notes joined by "; "; the string "None" when empty.',
        examples=["Got your json.", "Got your json.; Passed json sanity check"],
    )
    error_message: str = Field(
        default=NONE_PLACEHOLDER,
        description='Why the job failed; the string "None" when it did not.',
        examples=["None", "experiment_0, instruction 2 (fhop): wires [0, 1] ... [wire_count]"],
    )

    @field_validator("detail", "error_message", mode="before")
    @classmethod
    def _placeholder(cls, value: Any) -> Any:
        return NONE_PLACEHOLDER if value is None or value == "" else value
