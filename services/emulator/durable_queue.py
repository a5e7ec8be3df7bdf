"""A small FIFO of shot paths kept as files, so queued and unsubmitted shots survive a restart."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path


class DurableQueue:
    """FIFO of strings; each entry is one file named by a sequence number."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.changed = threading.Condition()
        self._entries: list[tuple[Path, str]] = [
            (p, p.read_text()) for p in sorted(folder.glob("*.entry"))
        ]
        self._next = int(self._entries[-1][0].stem) + 1 if self._entries else 0

    def put(self, value: str) -> None:
        with self.changed:
            path = self._folder / f"{self._next:012d}.entry"
            self._next += 1
            fd, tmp = tempfile.mkstemp(dir=self._folder, prefix=".new.")
            with os.fdopen(fd, "w") as f:
                f.write(value)
            os.replace(tmp, path)
            self._entries.append((path, value))
            self.changed.notify_all()

    def head(self, timeout: float | None = None) -> str | None:
        """The oldest entry (not removed), waiting up to ``timeout`` for one."""
        with self.changed:
            if not self._entries:
                self.changed.wait(timeout)
            return self._entries[0][1] if self._entries else None

    def pop(self) -> None:
        with self.changed:
            path, _ = self._entries.pop(0)
            path.unlink(missing_ok=True)

    def __contains__(self, value: str) -> bool:
        with self.changed:
            return any(v == value for _, v in self._entries)

    def __len__(self) -> int:
        with self.changed:
            return len(self._entries)

    def wake(self) -> None:
        with self.changed:
            self.changed.notify_all()
