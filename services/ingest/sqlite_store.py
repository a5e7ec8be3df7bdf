"""SQLite (WAL) implementation of ``JobStore``: jobs, status history, applied events, users."""

from __future__ import annotations

import hmac
import json
import sqlite3
import time
from pathlib import Path

from contracts.status import JobStatus
from services.common.private_files import private_file
from services.ingest.lifecycle import UNFINISHED, JobState, Transition, merge
from services.ingest.store import (
    Created, CreateOutcome, HistoryEntry, IdempotencyClaim, StoredJob, KeyConflict, NewJob,
    Replayed, UnknownUser, UserExists, UserRecord,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    backend TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    error_message TEXT NOT NULL DEFAULT 'None',
    shots_done INTEGER,
    shots_total INTEGER,
    result TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, seq);
CREATE INDEX IF NOT EXISTS jobs_owner_status ON jobs (owner, status);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (backend, status, seq);
CREATE TABLE IF NOT EXISTS job_history (
    job_id TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS job_history_job ON job_history (job_id);
CREATE TABLE IF NOT EXISTS applied_events (
    message_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    applied_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    token_hash TEXT UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL
);
"""
_UNFINISHED = tuple(status.value for status in UNFINISHED)
_IN_QUEUE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


def _record(row: sqlite3.Row) -> StoredJob:
    return StoredJob(
        seq=row["seq"], job_id=row["job_id"], owner=row["owner"], backend=row["backend"],
        payload=json.loads(row["payload"]),
        state=JobState(
            status=JobStatus(row["status"]), detail=row["detail"],
            error_message=row["error_message"], shots_done=row["shots_done"],
            shots_total=row["shots_total"],
            result=json.loads(row["result"]) if row["result"] is not None else None,
        ),
        cancel_requested=bool(row["cancel_requested"]),
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


class SqliteJobStore:
    """One connection, used from the event loop's thread only.

    Every method is a single short transaction (well under a millisecond in WAL mode with
    ``synchronous=NORMAL``), so it runs inline: a hop to a worker thread would cost more than
    the query. The bus consumer thread reaches the store through the loop (see ``events``),
    which also makes this the only writer and removes lock contention.
    """

    def __init__(self, path: Path) -> None:
        private_file(path)  # token hashes, job owners: nobody else's to read
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash; only an OS crash may lose the last
        # transactions, and those jobs were never acknowledged before the publish confirm.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")  # users CLI may write concurrently
        self._db.executescript(SCHEMA)

    # -- jobs ------------------------------------------------------------------------------
    async def create_job(self, job: NewJob, claim: IdempotencyClaim | None) -> CreateOutcome:
        now = time.time()
        with self._db:  # one transaction: the key and the job exist together or not at all
            self._db.execute("BEGIN IMMEDIATE")
            if claim is not None:
                row = self._db.execute(
                    "SELECT fingerprint, job_id FROM idempotency_keys WHERE owner=? AND key=?",
                    (job.owner, claim.key),
                ).fetchone()
                if row is not None:
                    if row["fingerprint"] != claim.fingerprint:
                        return KeyConflict(row["job_id"])
                    existing = self._row(row["job_id"], job.owner)
                    if existing is not None:
                        return Replayed(existing)
                self._db.execute(
                    "INSERT OR REPLACE INTO idempotency_keys VALUES (?,?,?,?,?)",
                    (job.owner, claim.key, claim.fingerprint, job.job_id, now),
                )
            self._db.execute(
                "INSERT INTO jobs (job_id, owner, backend, payload, status, detail, created_at,"
                " updated_at) VALUES (?,?,?,?,?,?,?,?)",
                (job.job_id, job.owner, job.backend, json.dumps(job.payload),
                 JobStatus.INITIALIZING.value, job.detail, now, now),
            )
            self._history(job.job_id, JobStatus.INITIALIZING, job.detail, now)
        created = self._row(job.job_id, job.owner)
        assert created is not None
        return Created(created)

    async def find_key(self, owner: str, key: str) -> tuple[str, str] | None:
        row = self._db.execute(
            "SELECT fingerprint, job_id FROM idempotency_keys WHERE owner=? AND key=?", (owner, key)
        ).fetchone()
        return (row["fingerprint"], row["job_id"]) if row is not None else None

    async def mark_queued(self, job_id: str, detail: str) -> None:
        self._transition(job_id, Transition(JobStatus.QUEUED, detail=detail))

    async def reject_job(self, job_id: str, reason: str) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM idempotency_keys WHERE job_id=?", (job_id,))
            self._apply_locked(job_id, Transition(
                JobStatus.ERROR, detail="Not accepted.", error_message=reason))

    async def stale_initializing(self, before: float) -> list[str]:
        rows = self._db.execute("SELECT job_id FROM jobs WHERE status=? AND created_at<?",
                                (JobStatus.INITIALIZING.value, before)).fetchall()
        return [r["job_id"] for r in rows]

    async def get_job(self, job_id: str, owner: str) -> StoredJob | None:
        return self._row(job_id, owner)

    async def history(self, job_id: str) -> list[HistoryEntry]:
        rows = self._db.execute(
            "SELECT status, detail, at FROM job_history WHERE job_id=? ORDER BY rowid", (job_id,)
        ).fetchall()
        return [HistoryEntry(JobStatus(r["status"]), r["detail"], r["at"]) for r in rows]

    async def queue_position(self, job: StoredJob) -> tuple[int, int]:
        # Two counts over the (backend, status, seq) index, each a range scan of one status.
        ahead = total = 0
        for status in _IN_QUEUE:
            row = self._db.execute(
                "SELECT COUNT(*) AS n, SUM(seq < ?) AS before FROM jobs"
                " WHERE backend=? AND status=?", (job.seq, job.backend, status),
            ).fetchone()
            total += row["n"]
            ahead += row["before"] or 0
        return ahead + 1, max(total, ahead + 1)

    async def count_unfinished(self, owner: str) -> int:
        marks = ",".join("?" * len(_UNFINISHED))
        return self._db.execute(
            f"SELECT COUNT(*) FROM jobs WHERE owner=? AND status IN ({marks})",
            (owner, *_UNFINISHED),
        ).fetchone()[0]

    async def count_pending(self, backend: str) -> int:
        marks = ",".join("?" * len(_UNFINISHED))
        return self._db.execute(
            f"SELECT COUNT(*) FROM jobs WHERE backend=? AND status IN ({marks})",
            (backend, *_UNFINISHED),
        ).fetchone()[0]

    async def list_jobs(
        self, owner: str, *, backend: str | None, status: JobStatus | None,
        before_seq: int | None, limit: int,
    ) -> list[StoredJob]:
        sql, args = "SELECT * FROM jobs WHERE owner=?", [owner]
        for clause, value in (("backend=?", backend), ("status=?", status and status.value),
                              ("seq<?", before_seq)):
            if value is not None:
                sql += f" AND {clause}"
                args.append(value)
        rows = self._db.execute(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit)).fetchall()
        return [_record(row) for row in rows]

    async def request_cancel(self, job_id: str) -> None:
        with self._db:
            self._db.execute(
                "UPDATE jobs SET cancel_requested=1, updated_at=? WHERE job_id=?",
                (time.time(), job_id),
            )

    async def apply(self, message_id: str, job_id: str, change: Transition) -> bool:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            seen = self._db.execute(
                "INSERT OR IGNORE INTO applied_events VALUES (?,?,?)",
                (message_id, job_id, time.time()),
            ).rowcount == 0
            if seen:
                return False
            return self._apply_locked(job_id, change)

    def _transition(self, job_id: str, change: Transition) -> bool:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            return self._apply_locked(job_id, change)

    def _apply_locked(self, job_id: str, change: Transition) -> bool:
        row = self._db.execute("SELECT * FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        if row is None:
            return False
        before = _record(row).state
        after = merge(before, change)
        if after == before:
            return False
        now = time.time()
        self._db.execute(
            "UPDATE jobs SET status=?, detail=?, error_message=?, shots_done=?, shots_total=?,"
            " result=?, updated_at=? WHERE job_id=?",
            (after.status.value, after.detail, after.error_message, after.shots_done,
             after.shots_total, json.dumps(after.result) if after.result is not None else None,
             now, job_id),
        )
        if after.status != before.status:
            self._history(job_id, after.status, after.detail, now)
        return True

    def _history(self, job_id: str, status: JobStatus, detail: str, at: float) -> None:
        self._db.execute("INSERT INTO job_history VALUES (?,?,?,?)", (job_id, status.value, detail, at))

    def _row(self, job_id: str, owner: str) -> StoredJob | None:
        row = self._db.execute(
            "SELECT * FROM jobs WHERE job_id=? AND owner=?", (job_id, owner)
        ).fetchone()
        return _record(row) if row is not None else None

    async def ping(self) -> None:
        self._db.execute("SELECT 1").fetchone()

    # -- users -----------------------------------------------------------------------------
    async def add_user(self, name: str, token_hash: str) -> None:
        try:
            with self._db:
                self._db.execute("INSERT INTO users VALUES (?,?,?,NULL)", (name, token_hash, time.time()))
        except sqlite3.IntegrityError as exc:
            raise UserExists(name) from exc

    async def set_token(self, name: str, token_hash: str) -> None:
        with self._db:
            changed = self._db.execute(
                "UPDATE users SET token_hash=?, revoked_at=NULL WHERE name=?", (token_hash, name)
            ).rowcount
        if not changed:
            raise UnknownUser(name)

    async def revoke_user(self, name: str) -> None:
        with self._db:
            changed = self._db.execute(
                "UPDATE users SET token_hash=NULL, revoked_at=? WHERE name=?", (time.time(), name)
            ).rowcount
        if not changed:
            raise UnknownUser(name)

    async def list_users(self) -> list[UserRecord]:
        rows = self._db.execute("SELECT name, created_at, revoked_at FROM users ORDER BY name")
        return [UserRecord(r["name"], r["created_at"], r["revoked_at"] is not None) for r in rows]

    async def user_for_token_hash(self, token_hash: str) -> str | None:
        row = self._db.execute(
            "SELECT name, token_hash FROM users WHERE token_hash=? AND revoked_at IS NULL",
            (token_hash,),
        ).fetchone()
        # The index lookup already matched; the constant-time check keeps that true even if
        # the query is ever changed to a prefix or case-insensitive match.
        if row is None or not hmac.compare_digest(row["token_hash"], token_hash):
            return None
        return row["name"]

    async def close(self) -> None:
        self._db.close()
