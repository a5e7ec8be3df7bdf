"""The event catalogue: every message on the bus, as a past-tense fact with a common envelope.

Messages carry references (paths, sha256, sizes), never file contents. Each event class names
its routing-key prefix; the backend is the last word of the key (see ``contracts.topology``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from contracts.job import JobPayload
from contracts.status import JobStatus
from contracts.topology import RoutingKey, routing_key

SCHEMA_VERSION: Literal[1] = 1
#: Upper bound for one encoded message; larger bodies are refused by publishers and consumers.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

JobId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$"),
    Field(description="Opaque job identifier issued by the ingest.", examples=["8780f5ec7eb2426686563b56"]),
]
Backend = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9_]{1,64}$"),
    Field(description="Backend display name; the last word of the routing key.", examples=["fermions"]),
]
ExperimentName = Annotated[
    str,
    StringConstraints(pattern=r"^experiment_\d{1,6}$"),
    Field(description="Experiment key of the job payload.", examples=["experiment_0"]),
]
Sha256 = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
    Field(description="Hex SHA-256 of the shot file.", examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]),
]
ShotPath = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4096),
    Field(description="Absolute path of the shot HDF5 file.", examples=["/var/shotline/shots/fermions/8780f5ec/experiment_0/0000.h5"]),
]


def _clipped(limit: int):  # noqa: ANN202 - a validator
    """Free text for people is cut to ``limit`` characters (ending in an ellipsis) rather than
    refused: a failure report must never itself fail on its length."""

    def clip(value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            return value[: limit - 1] + "…"
        return value

    return BeforeValidator(clip)


#: Why a job failed, in words a user can act on.
Reason = Annotated[str, _clipped(4000), Field(max_length=4000)]
#: Human-readable progress of a job.
Detail = Annotated[str, _clipped(2000), Field(max_length=2000)]
#: The pipeline stage a job failed in.
Stage = Literal["validation", "spooling", "execution", "analysis", "archiving", "result"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Event(BaseModel):
    """Envelope shared by every event."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    ROUTING: ClassVar[str]

    message_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        description="Unique id of this message; consumers use it for logging and de-duplication.",
        examples=["4f6c2a9e0b8d4e4f9f1e2d3c4b5a6978"],
    )
    correlation_id: JobId = Field(description="The job this event belongs to (= job_id).")
    produced_at: datetime = Field(default_factory=_now, description="UTC time of publication.")
    producer: str = Field(description="Service that published the event.", examples=["spooler"])
    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, description="Envelope/schema version.")
    job_id: JobId
    backend: Backend

    def routing_key(self) -> str:
        return routing_key(self.ROUTING, self.backend)

    @classmethod
    def create(cls, producer: str, **fields: Any):  # noqa: ANN206 - returns cls
        """Build an event whose correlation id is its job id."""
        return cls(producer=producer, correlation_id=fields["job_id"], **fields)


class JobSubmitted(Event):
    """A user's job passed validation, was stored, and waits for the spooler."""

    ROUTING: ClassVar[str] = RoutingKey.JOB_SUBMITTED
    owner: str = Field(description="User name of the submitter.", examples=["alice"], max_length=64)
    payload: JobPayload = Field(
        description="The validated job payload (experiment_<n> -> experiment).",
        examples=[{"experiment_0": {"instructions": [["load", [0], []], ["measure", [0], []]],
                                    "num_wires": 8, "shots": 2, "wire_order": "interleaved"}}],
    )


class SpooledExperiment(BaseModel):
    """One experiment of a spooled job: a count, not a list, so that ``JobSpooled`` has the same
    size whatever the number of shots (each shot's path arrives with its own ShotFinished)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: ExperimentName
    n_shots: int = Field(ge=0, description="Shots of the experiment, indexed 0 to n_shots - 1.")

    @model_validator(mode="before")
    @classmethod
    def _listed_shots(cls, data: Any) -> Any:
        # A JobSpooled that listed every shot ({"shots": [{shot_index, path}, ...]}) may still
        # wait in a queue across an upgrade; it decodes to its count.
        if isinstance(data, dict) and "n_shots" not in data and isinstance(data.get("shots"), list):
            data = {**{k: v for k, v in data.items() if k != "shots"}, "n_shots": len(data["shots"])}
        return data


class JobSpooled(Event):
    """The job's shots were compiled and handed to the executor."""

    ROUTING: ClassVar[str] = RoutingKey.JOB_SPOOLED
    experiments: list[SpooledExperiment]
    total_shots: int = Field(ge=0, description="Number of shots the job expects.")


class JobStatusChanged(Event):
    """The job moved to a new status or made progress (shots done of total)."""

    ROUTING: ClassVar[str] = RoutingKey.JOB_STATUS_CHANGED
    status: JobStatus
    detail: Detail = Field(description="Human-readable progress.", examples=["12 of 100 shots analysed"])
    shots_done: int | None = Field(default=None, ge=0)
    shots_total: int | None = Field(default=None, ge=0)


class ShotFinished(Event):
    """The executor ran a shot; the file at ``path`` holds its raw data."""

    ROUTING: ClassVar[str] = RoutingKey.SHOT_FINISHED
    experiment: ExperimentName
    shot_index: int = Field(ge=0)
    path: ShotPath
    sha256: Sha256
    size: int = Field(ge=0, description="File size in bytes.")


class ShotAnalysed(Event):
    """The single-shot lyse routines ran and wrote ``/results`` into the shot file."""

    ROUTING: ClassVar[str] = RoutingKey.SHOT_ANALYSED
    experiment: ExperimentName
    shot_index: int = Field(ge=0)
    path: ShotPath
    sha256: Sha256 = Field(description="Checksum of the file after analysis.")
    size: int = Field(ge=0)
    memory: str = Field(max_length=10_000, description="Measured outcome, space-separated per measured wire.", examples=["1 0 1"])


class ShotArchived(Event):
    """The shot file was copied to the SDS archive, verified and removed from the spool."""

    ROUTING: ClassVar[str] = RoutingKey.SHOT_ARCHIVED
    experiment: ExperimentName
    shot_index: int = Field(ge=0)
    path: ShotPath = Field(description="Path in the archive.")
    sha256: Sha256
    size: int = Field(ge=0)
    memory: str = Field(max_length=10_000)


class JobDone(Event):
    """Every shot is archived and the multi-shot result is ready."""

    ROUTING: ClassVar[str] = RoutingKey.JOB_DONE
    result: dict[str, Any] = Field(description="Qiskit Result.from_dict compatible result.")


class JobFailed(Event):
    """The job cannot complete; ``reason`` says why in words a user can act on."""

    ROUTING: ClassVar[str] = RoutingKey.JOB_FAILED
    stage: Stage
    reason: Reason = Field(examples=["analysis routine occupation raised ValueError: no atoms"])


class JobCancelRequested(Event):
    """The owner asked to cancel the job."""

    ROUTING: ClassVar[str] = RoutingKey.JOB_CANCEL_REQUESTED
    requested_by: str = Field(max_length=64)


class JobCancelled(Event):
    """The job was cancelled; shots not yet handed to the executor were dropped."""

    ROUTING: ClassVar[str] = RoutingKey.JOB_CANCELLED
    shots_dropped: int = Field(ge=0)


#: Every event class, by the AMQP ``type`` property it is published with.
EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        JobSubmitted, JobSpooled, JobStatusChanged, ShotFinished, ShotAnalysed, ShotArchived,
        JobDone, JobFailed, JobCancelRequested, JobCancelled,
    )
}


class UndecodableEvent(ValueError):
    """A message body that is not a valid event of a known type and schema version."""


def decode_event(type_name: str | None, body: bytes) -> Event:
    """Parse a message body into its event class, or raise ``UndecodableEvent``."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise UndecodableEvent(f"message of {len(body)} bytes exceeds {MAX_MESSAGE_BYTES}")
    cls = EVENT_TYPES.get(type_name or "")
    if cls is None:
        raise UndecodableEvent(f"unknown event type {type_name!r}")
    try:
        return cls.model_validate_json(body)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise UndecodableEvent(f"invalid {type_name}: {exc}") from exc


class MessageTooLarge(ValueError):
    """An event whose encoding exceeds ``MAX_MESSAGE_BYTES``: no retry can send it."""


def encode_event(event: Event) -> bytes:
    body = event.model_dump_json().encode()
    if len(body) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(
            f"{type(event).__name__} of {len(body)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return body
