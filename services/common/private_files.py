"""Files only the service's own user may read or write (mode 0600): the job store, the
bookkeeping databases and the labscript shared secret."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if absent, and make an existing one 0600.

    For SQLite: its WAL and shared-memory files take the database file's mode when SQLite
    creates them, so a 0600 database keeps its journal private too; leftovers from a version
    that made them world-readable are fixed here as well.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE))
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if each.exists():
            os.chmod(each, PRIVATE)
    return path


def write_private_once(path: Path, text: str) -> bool:
    """Write ``text`` to a new 0600 file; False if it already existed (its mode is then fixed)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        os.chmod(path, PRIVATE)
        return False
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return True
