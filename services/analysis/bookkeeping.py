"""Durable per-job bookkeeping of the multi-shot results consumer: expected and archived shots.

SQLite under SHOTLINE_HOME, one transaction per event, committed before the message is acked:
a restarted process (or the standby that takes over the single-active-consumer queue) resumes
where the last one stopped. Events may come in any order: a ShotArchived recorded before its
job's JobSpooled simply waits in ``archived`` until the job's expected shots are known.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.private_files import private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    total_shots INTEGER,                -- NULL until JobSpooled arrives
    state TEXT NOT NULL DEFAULT 'open', -- open | done | failed | cancelled
    reported_done INTEGER NOT NULL DEFAULT -1
);
CREATE TABLE IF NOT EXISTS expected (
    job_id TEXT NOT NULL, experiment TEXT NOT NULL, shot_index INTEGER NOT NULL,
    PRIMARY KEY (job_id, experiment, shot_index)
);
CREATE TABLE IF NOT EXISTS archived (
    job_id TEXT NOT NULL, experiment TEXT NOT NULL, shot_index INTEGER NOT NULL,
    path TEXT NOT NULL, sha256 TEXT NOT NULL, memory TEXT NOT NULL,
    PRIMARY KEY (job_id, experiment, shot_index)
);
"""


@dataclass(frozen=True)
class Progress:
    state: str
    done: int
    total: int | None  # None: the job's JobSpooled has not arrived yet

    @property
    def complete(self) -> bool:
        return self.state == "open" and self.total is not None and self.done >= self.total


@dataclass(frozen=True)
class ArchivedShot:
    shot_index: int
    path: str
    memory: str


class ResultsBook:
    """All access goes through one connection, serialised by a lock (one consumer thread)."""

    def __init__(self, path: Path) -> None:
        private_file(path)  # owners' job ids and results: nobody else's to read
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        # WAL + FULL: a commit survives a power cut once it returned, and readers never block.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _write(self, statements: Iterable[tuple[str, Sequence[object]]]) -> list[int]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                counts = [self._db.execute(sql, args).rowcount for sql, args in statements]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return counts

    def expect(self, job_id: str, backend: str, shots: Iterable[tuple[str, int]], total: int) -> None:
        """Record the job's expected shots (a repeated JobSpooled changes nothing)."""
        statements: list[tuple[str, Sequence[object]]] = [
            ("INSERT OR IGNORE INTO jobs (job_id, backend) VALUES (?, ?)", (job_id, backend)),
            ("UPDATE jobs SET total_shots = ? WHERE job_id = ? AND total_shots IS NULL",
             (total, job_id)),
        ]
        statements += [
            ("INSERT OR IGNORE INTO expected VALUES (?, ?, ?)", (job_id, experiment, index))
            for experiment, index in shots
        ]
        self._write(statements)

    def record_archived(self, job_id: str, backend: str, experiment: str, shot_index: int,
                        path: str, sha256: str, memory: str) -> bool:
        """Record an archived shot; False if it was recorded before (a duplicate)."""
        counts = self._write([
            ("INSERT OR IGNORE INTO jobs (job_id, backend) VALUES (?, ?)", (job_id, backend)),
            ("INSERT OR IGNORE INTO archived VALUES (?, ?, ?, ?, ?, ?)",
             (job_id, experiment, shot_index, path, sha256, memory)),
        ])
        return counts[1] == 1

    def progress(self, job_id: str) -> Progress | None:
        with self._lock:
            row = self._db.execute(
                "SELECT state, total_shots FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            state, total = row
            if total is None:
                done = self._db.execute(
                    "SELECT COUNT(*) FROM archived WHERE job_id = ?", (job_id,)).fetchone()[0]
            else:  # only shots the job expects count (a stray duplicate announcement never does)
                done = self._db.execute(
                    "SELECT COUNT(*) FROM archived a JOIN expected e USING (job_id, experiment, shot_index) "
                    "WHERE job_id = ?", (job_id,)).fetchone()[0]
        return Progress(state, done, total)

    def claim_report(self, job_id: str, done: int, total: int) -> bool:
        """Whether ``done`` deserves a progress event: at most ~100 per job, the last always,
        and never the same count twice (redeliveries publish nothing new)."""
        step = max(1, total // 100)
        counts = self._write([(
            "UPDATE jobs SET reported_done = ? WHERE job_id = ? AND reported_done < ? "
            "AND (? - reported_done >= ? OR ? >= ?)",
            (done, job_id, done, done, step, done, total),
        )])
        return counts[0] == 1

    def set_state(self, job_id: str, state: str) -> None:
        self._write([("UPDATE jobs SET state = ? WHERE job_id = ?", (state, job_id))])

    def cancel(self, job_id: str, backend: str) -> None:
        self.close_open(job_id, backend, "cancelled")

    def close_open(self, job_id: str, backend: str, state: str) -> None:
        """Close a job that is still open (cancelled or failed elsewhere); a job that is already
        done or closed keeps its state. Creates the row if the job's other events are not in yet,
        so late shots of a closed job never produce a result."""
        self._write([
            ("INSERT OR IGNORE INTO jobs (job_id, backend) VALUES (?, ?)", (job_id, backend)),
            ("UPDATE jobs SET state = ? WHERE job_id = ? AND state = 'open'", (state, job_id)),
        ])

    def experiments(self, job_id: str) -> dict[str, list[ArchivedShot]]:
        """Every expected shot with its archived copy, per experiment, in shot order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.experiment, e.shot_index, a.path, a.memory FROM expected e "
                "JOIN archived a USING (job_id, experiment, shot_index) "
                "WHERE e.job_id = ? ORDER BY e.experiment, e.shot_index", (job_id,)).fetchall()
        out: dict[str, list[ArchivedShot]] = {}
        for experiment, index, path, memory in rows:
            out.setdefault(experiment, []).append(ArchivedShot(index, path, memory))
        return out
