"""The chaos verdict: every job DONE, every shot once and equal to the ground truth, verified.

Archived with the checksum ShotArchived announced, and nothing left behind in the spool.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py


@dataclass(frozen=True)
class Submitted:
    backend: str
    job_id: str
    job: dict[str, Any]


@dataclass
class Verdict:
    jobs: int = 0
    jobs_done: int = 0
    shots_expected: int = 0
    shots_checked: int = 0
    losses: int = 0
    duplicates: int = 0
    checksum_errors: int = 0
    wrong_memory: int = 0
    leftovers: int = 0
    redelivered_events: int = 0  # ShotArchived published more than once for a shot (tolerated)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.jobs_done == self.jobs and self.losses == 0 \
            and self.duplicates == 0

    def problem(self, text: str) -> None:
        self.problems.append(text)


def ground_truth(path: Path) -> str:
    with h5py.File(path, "r") as f:
        memory = f["data/emulator"].attrs["memory"]
    return memory.decode() if isinstance(memory, bytes) else str(memory)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def archived_files(sds: Path, backend: str, job_id: str) -> dict[str, list[Path]]:
    """Every archived ``*.h5`` of a job per experiment (multi-shot files excluded), sorted."""
    found: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(sds.glob(f"{backend}/*/*/*/{job_id}/*/*.h5")):
        if not path.name.endswith(".multishot.h5"):
            found[path.parent.name].append(path)
    return found


def verify(home: Path, submitted: list[Submitted], statuses: dict[str, dict[str, Any]],
           results: dict[str, dict[str, Any]], archived_events: list[dict[str, Any]],
           shots: Path | None = None, sds: Path | None = None) -> Verdict:
    """``shots`` and ``sds`` are the stack's folders (default HOME/shots and HOME/sds)."""
    v = Verdict(jobs=len(submitted))
    shots = shots or home / "shots"
    sds = sds or home / "sds"
    events: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for e in archived_events:
        events[(e["job_id"], e["experiment"], e["shot_index"])].append(e)
    for s in submitted:
        status = statuses.get(s.job_id, {}).get("status")
        if status != "DONE":
            v.problem(f"{s.backend} {s.job_id}: {status} ({statuses.get(s.job_id)})")
            v.losses += sum(e["shots"] for e in s.job.values())
            v.shots_expected += sum(e["shots"] for e in s.job.values())
            continue
        v.jobs_done += 1
        _check_job(v, s, results[s.job_id], archived_files(sds, s.backend, s.job_id), events)
    _check_leftovers(v, home, shots, sds)
    return v


def _check_job(v: Verdict, s: Submitted, result: dict[str, Any], files: dict[str, list[Path]],
               events: dict[tuple[str, str, int], list[dict[str, Any]]]) -> None:
    entries = {r["header"]["name"]: r for r in result.get("results", [])}
    if sorted(entries) != sorted(s.job):
        v.problem(f"{s.job_id}: result experiments {sorted(entries)} != {sorted(s.job)}")
    for name, spec in s.job.items():
        n = spec["shots"]
        v.shots_expected += n
        entry = entries.get(name, {})
        memory = entry.get("data", {}).get("memory", [])
        paths = files.get(name, [])
        by_index = Counter(int(p.stem.split("_")[0]) for p in paths)
        missing = [k for k in range(n) if by_index[k] == 0]
        extra = sum(c - 1 for c in by_index.values() if c > 1) + sum(
            c for k, c in by_index.items() if k >= n)
        # Loss: an expected shot absent from the archive or the result; duplicate: a shot
        # archived (or counted in the result) more than once.
        lost = max(len(missing), n - len(memory), 0)
        dup = max(extra, len(memory) - n, 0)
        v.losses += lost
        v.duplicates += dup
        if lost or dup:
            v.problem(f"{s.job_id}/{name}: {n} shots expected, {len(memory)} in the result, "
                      f"archived {sorted(by_index.elements())}")
        if entry.get("shots") != n:
            v.problem(f"{s.job_id}/{name}: result says {entry.get('shots')} shots, job asked {n}")
        for k in range(min(n, len(memory))):
            shot_paths = [p for p in paths if p.stem == f"{k:04d}"]
            if not shot_paths:
                continue
            path = shot_paths[0]
            v.shots_checked += 1
            if ground_truth(path) != memory[k]:
                v.wrong_memory += 1
                v.problem(f"{path}: result memory {memory[k]!r} != "
                          f"ground truth {ground_truth(path)!r}")
            _check_checksum(v, path, events.get((s.job_id, name, k), []))


def _check_checksum(v: Verdict, path: Path, shot_events: list[dict[str, Any]]) -> None:
    if not shot_events:
        v.checksum_errors += 1
        v.problem(f"{path}: no ShotArchived event was published")
        return
    v.redelivered_events += len(shot_events) - 1
    actual = sha256(path)
    for e in shot_events:
        if e["path"] != str(path) or e["sha256"] != actual:
            v.checksum_errors += 1
            v.problem(f"{path}: ShotArchived says {e['path']} sha256 {e['sha256'][:12]}, "
                      f"file has {actual[:12]}")


def _check_leftovers(v: Verdict, home: Path, shots: Path, sds: Path) -> None:
    """Spool copies, temporary files and queued entries that a finished run must not leave."""
    patterns = {shots: ("*.h5", ".*"), sds: (".*.part",),
                home / "emulator": ("*.entry",)}
    found = {path for root, globs in patterns.items() for pattern in globs
             for path in root.rglob(pattern) if path.is_file()}
    for path in sorted(found):
        v.leftovers += 1
        v.problem(f"left behind: {path}")
