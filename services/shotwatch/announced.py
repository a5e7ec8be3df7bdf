"""The durable record of shots already announced, so the start-up rescan only sends the rest."""

from __future__ import annotations

import os
import threading
from pathlib import Path


class AnnouncedShots:
    """An append-only log of (path, sha256); a changed file is announced again."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str]] = set()
        if path.exists():
            for line in path.read_text().splitlines():
                shot, _, digest = line.rpartition(" ")
                if shot:
                    self._seen.add((shot, digest))

    def __contains__(self, key: tuple[str, str]) -> bool:
        with self._lock:
            return key in self._seen

    def paths(self) -> set[str]:
        with self._lock:
            return {p for p, _ in self._seen}

    def add(self, path: str, sha256: str) -> None:
        with self._lock:
            if (path, sha256) in self._seen:
                return
            with open(self._path, "a") as f:
                f.write(f"{path} {sha256}\n")
                f.flush()
                os.fsync(f.fileno())
            self._seen.add((path, sha256))
