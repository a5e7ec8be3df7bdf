"""The spooler's durable job book: jobs in hand, hand-over progress and cancelled job ids.

A job is "in hand" from the moment its template shots are compiled (its message is then acked)
until every shot handed to the executor has finished. Records live as JSON files under
``SHOTLINE_HOME/spooler`` so a restart resumes hand-over where it stopped; finished shots are
kept in memory only and recovered from the shot files (``run time``) after a restart.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from services.common.shot_storage import replacing, shot_path

State = Literal["active", "done", "cancelled", "failed"]


@dataclass
class ExperimentRecord:
    name: str
    index: int
    n_shots: int
    folder: str
    template: str
    experiment_seed: int

    def shot_path(self, shot_index: int) -> str:
        return str(shot_path(self.folder, shot_index))


@dataclass
class JobRecord:
    job_id: str
    backend: str
    experiments: list[ExperimentRecord]
    admitted: int = 0
    handed: int = 0  # shots handed over, counted in experiment order
    # Shot files derived so far; one more than ``handed`` while a hand-over is under way, so a
    # restart can tell a shot handed (and maybe archived since) from one never written.
    derived: int = 0
    state: State = "active"
    running_announced: bool = False
    cancelled_at: int | None = None  # shots that will ever be handed over, once cancelled
    finished: set[int] = field(default_factory=set, repr=False)  # flat shot numbers, not persisted
    in_flight: bool = field(default=False, repr=False)  # the feeder is handing a shot over now

    @property
    def planned(self) -> int:
        return sum(e.n_shots for e in self.experiments)

    @property
    def total(self) -> int:
        """Shots that will be handed over: all of them, or those handed before a cancel."""
        return self.planned if self.cancelled_at is None else self.cancelled_at

    def locate(self, flat: int) -> tuple[ExperimentRecord, int]:
        for exp in self.experiments:
            if flat < exp.n_shots:
                return exp, flat
            flat -= exp.n_shots
        raise IndexError("shot number beyond the job")

    def flat(self, experiment: str, shot_index: int) -> int | None:
        offset = 0
        for exp in self.experiments:
            if exp.name == experiment:
                return offset + shot_index if 0 <= shot_index < exp.n_shots else None
            offset += exp.n_shots
        return None

    @property
    def outstanding(self) -> int:
        return self.handed - len(self.finished)

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("finished")
        data.pop("in_flight")
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> JobRecord:
        data = json.loads(text)
        data["experiments"] = [ExperimentRecord(**e) for e in data["experiments"]]
        return cls(**data)


@dataclass(frozen=True)
class Handover:
    job: JobRecord
    experiment: ExperimentRecord
    shot_index: int
    first: bool


class JobBook:
    """Thread-safe; ``changed`` is notified whenever hand-over might proceed or room appears."""

    def __init__(self, root: Path, jobs_in_hand: int) -> None:
        self._jobs_dir = root / "jobs"
        self._cancelled_dir = root / "cancelled"
        for folder in (self._jobs_dir, self._cancelled_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._capacity = jobs_in_hand
        self.changed = threading.Condition()
        self._jobs: dict[str, JobRecord] = {}
        for path in sorted(self._jobs_dir.glob("*.json")):
            record = JobRecord.from_json(path.read_text())
            self._jobs[record.job_id] = record
        self._next_admission = max((j.admitted for j in self._jobs.values()), default=0) + 1
        # When each active job last moved (a shot handed or finished); in memory only, so the
        # watchdog's clock starts again after a restart, which only ever gives more time.
        self._moved_at: dict[str, float] = {}

    # -- queries ----------------------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        with self.changed:
            return self._jobs.get(job_id)

    def active(self) -> list[JobRecord]:
        with self.changed:
            return sorted((j for j in self._jobs.values() if j.state == "active"),
                          key=lambda j: j.admitted)

    def has_room(self) -> bool:
        return len(self.active()) < self._capacity

    def is_cancelled(self, job_id: str) -> bool:
        return (self._cancelled_dir / job_id).exists()

    def unfinished_handed(self) -> list[tuple[JobRecord, int]]:
        with self.changed:
            return [(j, n) for j in self.active() for n in range(j.handed) if n not in j.finished]

    def stalled(self, now: float, timeout_s: float) -> list[JobRecord]:
        """Active jobs with shots in the executor and no progress for ``timeout_s``."""
        with self.changed:
            return [j for j in self.active() if j.outstanding
                    and now - self._moved_at.setdefault(j.job_id, now) > timeout_s]

    # -- changes ----------------------------------------------------------------------------
    def _save(self, record: JobRecord) -> None:
        with replacing(self._jobs_dir / f"{record.job_id}.json") as work:
            work.write_text(record.to_json())

    def admit(self, record: JobRecord) -> bool:
        """Take a compiled job in hand; False (and nothing stored) if it was cancelled meanwhile."""
        with self.changed:
            if self.is_cancelled(record.job_id):
                return False
            record.admitted = self._next_admission
            self._next_admission += 1
            self._jobs[record.job_id] = record
            self._save(record)
            self.changed.notify_all()
            return True

    def next_handover(self, window: int) -> Handover | None:
        """The next shot to hand over, if fewer than ``window`` shots are outstanding."""
        with self.changed:
            active = self.active()
            if sum(j.outstanding for j in active) >= window:
                return None
            for job in active:
                if job.handed < job.total:
                    job.in_flight = True
                    experiment, shot = job.locate(job.handed)
                    return Handover(job, experiment, shot, first=not job.running_announced)
            return None

    def mark_derived(self, job_id: str) -> None:
        """The file of the next shot to hand over exists now (recorded before the hand-over)."""
        with self.changed:
            job = self._jobs[job_id]
            job.derived = job.handed + 1
            self._save(job)

    def mark_handed(self, job_id: str) -> None:
        with self.changed:
            job = self._jobs[job_id]
            job.handed += 1
            job.in_flight = False
            self._moved_at[job_id] = time.monotonic()
            job.running_announced = True
            self._settle(job)
            self._save(job)

    def mark_finished(self, job_id: str, experiment: str, shot_index: int) -> None:
        with self.changed:
            job = self._jobs.get(job_id)
            flat = job.flat(experiment, shot_index) if job else None
            if job is None or flat is None or flat in job.finished:
                return
            job.finished.add(flat)
            self._moved_at[job_id] = time.monotonic()
            if self._settle(job):
                self._save(job)
            self.changed.notify_all()

    def _settle(self, job: JobRecord) -> bool:
        """End the job once nothing more will be handed and every handed shot finished."""
        if job.state == "active" and job.handed == job.total and not job.outstanding:
            job.state = "done" if job.cancelled_at is None else "cancelled"
            self.changed.notify_all()
            return True
        return False

    def cancel(self, job_id: str) -> int | None:
        """Remember the cancel; drop shots not handed over. Returns how many were dropped, or
        None when the job is not in hand (it is dropped whole when its message arrives)."""
        with self.changed:
            (self._cancelled_dir / job_id).touch()
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.state != "active":
                return 0 if job.state == "cancelled" else None
            # A shot on its way to the executor right now cannot be called back.
            handed = job.handed + (1 if job.in_flight else 0)
            dropped = job.total - handed
            job.cancelled_at = handed
            self._settle(job)
            self._save(job)
            self.changed.notify_all()
            return dropped

    def fail(self, job_id: str) -> None:
        with self.changed:
            job = self._jobs[job_id]
            job.state = "failed"
            job.in_flight = False
            self._save(job)
            self.changed.notify_all()
