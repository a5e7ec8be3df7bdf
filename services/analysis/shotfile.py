"""What the analysis service reads and writes in a shot file: done marker, memory, executor failure.

The done marker lives in the attributes of ``/results`` itself, which lyse's DataFrame does not
read (it reads the attributes of the groups *below* ``/results``), so it never shows up as a
column. It is written last, after every routine succeeded, so a file carrying it is final.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import h5py

DONE_ATTR = "shotline_analysed_at"
ROUTINES_ATTR = "shotline_routines"


@dataclass(frozen=True)
class AnalysisState:
    done: bool           # every routine ran and the marker is written
    has_results: bool    # some /results group exists (a previous attempt may have got partway)


def executor_failure(path: str | Path) -> str | None:
    """Why the executor failed this shot, or None if it ran: the emulator's recorded error
    (``/data/emulator@error``), or a camera that marked the shot failed (``failed_shot``, as
    BLACS's IMAQdx worker does)."""
    with h5py.File(path, "r") as f:
        emulator = f.get("data/emulator")
        error = emulator.attrs.get("error", "") if emulator is not None else ""
        if isinstance(error, bytes):
            error = error.decode(errors="replace")
        if error:
            return f"the executor could not run the shot: {error}"
        for name, group in (f.get("images") or {}).items():
            if bool(group.attrs.get("failed_shot", False)):
                return f"camera {group.attrs.get('camera', name)!s} reported a failed shot"
    return None


def analysis_state(path: str | Path) -> AnalysisState:
    with h5py.File(path, "r") as f:
        results = f.get("results")
        if results is None:
            return AnalysisState(False, False)
        return AnalysisState(DONE_ATTR in results.attrs, len(results) > 0)


def _memory_of(f: h5py.File, routine_group: str) -> str:
    group = f.get(f"results/{routine_group}")
    if group is None or "memory" not in group.attrs:
        raise KeyError(f"routine {routine_group} saved no 'memory' result")
    value = group.attrs["memory"]
    return value.decode() if isinstance(value, bytes) else str(value)


def read_memory(path: str | Path, routine_group: str) -> str:
    """The shot's memory string as the memory routine saved it in ``/results/<group>``.

    Raises:
        KeyError: the routine saved no ``memory``.
    """
    with h5py.File(path, "r") as f:
        return _memory_of(f, routine_group)


def finalise(path: str | Path, routine_group: str, routines: Sequence[str]) -> str:
    """Read the memory and write the done marker in one open.

    The caller writes into a working copy under ``shot_storage.replacing``, which fsyncs it
    before it becomes the shot: the checksum published next then describes what is on disk even
    after a power cut, and the archiver never finds a different file and refuses it.

    Raises:
        KeyError: the routine saved no ``memory`` (no marker is written then).
    """
    with h5py.File(path, "r+") as f:
        memory = _memory_of(f, routine_group)
        results = f["results"]
        results.attrs[ROUTINES_ATTR] = ",".join(routines)
        results.attrs[DONE_ATTR] = datetime.now(timezone.utc).isoformat()
    return memory


#: Lock stripes: a fixed set of lock files, so none is ever created per shot or left behind.
LOCK_STRIPES = 256


@contextmanager
def exclusive(path: str | Path, lock_dir: Path) -> Iterator[None]:
    """Hold an advisory lock for the shot while it is analysed.

    Two analysis processes can receive the same shot (a duplicate announcement, a redelivery
    while the first is still working); without the lock both would write ``/results`` at once.
    The lock is not taken on the shot itself: HDF5 flock()s the files it opens, and would find
    them locked by us. Unrelated shots share a stripe only rarely, and then merely wait.
    """
    stripe = int(hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:8], 16)
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / f"shot-{stripe % LOCK_STRIPES:03d}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
