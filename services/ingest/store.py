"""The job store interface (``JobStore``) and the records it hands out; SQLite implements it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from contracts.status import JobStatus
from services.ingest.lifecycle import JobState, Transition


@dataclass(frozen=True)
class StoredJob:
    """One job as stored. ``seq`` orders jobs by acceptance (queue order, listing order)."""

    seq: int
    job_id: str
    owner: str
    backend: str
    payload: dict[str, Any]
    state: JobState
    cancel_requested: bool
    created_at: float
    updated_at: float

    @property
    def status(self) -> JobStatus:
        return self.state.status


@dataclass(frozen=True)
class NewJob:
    job_id: str
    owner: str
    backend: str
    payload: dict[str, Any]
    detail: str


@dataclass(frozen=True)
class IdempotencyClaim:
    """An ``Idempotency-Key`` and the fingerprint of the request it was first used with."""

    key: str
    fingerprint: str


@dataclass(frozen=True)
class Created:
    job: StoredJob


@dataclass(frozen=True)
class Replayed:
    """The key was used before with the same request: the earlier job answers."""

    job: StoredJob


@dataclass(frozen=True)
class KeyConflict:
    """The key was used before with a different request."""

    job_id: str


CreateOutcome = Created | Replayed | KeyConflict


@dataclass(frozen=True)
class HistoryEntry:
    status: JobStatus
    detail: str
    at: float


@dataclass(frozen=True)
class UserRecord:
    name: str
    created_at: float
    revoked: bool


class UserExists(Exception):
    """``add_user`` for a name that is taken."""


class UnknownUser(Exception):
    """A user operation named no existing user."""


class JobStore(Protocol):
    """What the ingest needs from persistence. Async so a PostgreSQL store can follow; every
    method is one short transaction, and ownership is part of each read that a user makes."""

    async def create_job(self, job: NewJob, claim: IdempotencyClaim | None) -> CreateOutcome: ...

    async def find_key(self, owner: str, key: str) -> tuple[str, str] | None:
        """(fingerprint, job_id) recorded for an Idempotency-Key, if any."""

    async def mark_queued(self, job_id: str, detail: str) -> None: ...

    async def reject_job(self, job_id: str, reason: str) -> None:
        """Mark a job that could not be published ERROR and free its idempotency key."""

    async def stale_initializing(self, before: float) -> list[str]:
        """Jobs still INITIALIZING that were created before ``before`` (epoch seconds)."""

    async def get_job(self, job_id: str, owner: str) -> StoredJob | None: ...

    async def history(self, job_id: str) -> list[HistoryEntry]: ...

    async def queue_position(self, job: StoredJob) -> tuple[int, int]:
        """(1-based position, number of unfinished jobs) of the job's backend queue."""

    async def count_unfinished(self, owner: str) -> int: ...

    async def count_pending(self, backend: str) -> int: ...

    async def list_jobs(
        self, owner: str, *, backend: str | None, status: JobStatus | None,
        before_seq: int | None, limit: int,
    ) -> list[StoredJob]: ...

    async def request_cancel(self, job_id: str) -> None: ...

    async def apply(self, message_id: str, job_id: str, change: Transition) -> bool:
        """Fold one event in; False when it was seen before, the job is unknown, or nothing
        changed. The message id is recorded in the same transaction as the change."""

    async def ping(self) -> None:
        """Raise if the store cannot answer."""

    async def add_user(self, name: str, token_hash: str) -> None: ...

    async def set_token(self, name: str, token_hash: str) -> None: ...

    async def revoke_user(self, name: str) -> None: ...

    async def list_users(self) -> list[UserRecord]: ...

    async def user_for_token_hash(self, token_hash: str) -> str | None: ...

    async def close(self) -> None: ...
