"""What makes a file an executed shot of a shotline job, and the facts ShotFinished carries."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

# Shot files are <shots>/<backend>/<job_id>/<experiment>/<shot>.h5 (BLACS re-runs add _repNNNNN).
_NAME = re.compile(r"^(\d+)(_rep\d{5})?\.h5$")


class NotAShot(ValueError):
    """The file is not an executed shot of a job spooled under this SHOTLINE_HOME."""


@dataclass(frozen=True)
class ExecutedShot:
    path: str
    job_id: str
    backend: str
    experiment: str
    shot_index: int
    sha256: str
    size: int
    error: str  # the emulator's simulation error, "" normally and always behind a real BLACS


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def sha256_of(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def inspect_shot(path: str, shots_root: Path) -> ExecutedShot:
    """Check ``path`` is an executed shot whose globals agree with where it lies.

    Raises:
        NotAShot: with the reason, for anything else.
    """
    import h5py

    real = Path(os.path.realpath(path))
    try:
        relative = real.relative_to(os.path.realpath(shots_root))
    except ValueError:
        raise NotAShot(f"{path} is not under the shot folder {shots_root}") from None
    if len(relative.parts) != 4 or not _NAME.match(relative.parts[3]):
        raise NotAShot(f"{path} is not <backend>/<job>/<experiment>/<shot>.h5")
    try:
        with h5py.File(real, "r") as f:
            if "run time" not in f.attrs:
                raise NotAShot(f"{path} has not been run (no 'run time')")
            g = f["globals"].attrs
            facts = (_text(g["backend"]), _text(g["job_id"]), _text(g["experiment_name"]))
            shot_index = int(g["shot_index"])
            error = _text(f["data/emulator"].attrs.get("error", "")) if "data/emulator" in f else ""
    except (OSError, KeyError) as exc:
        raise NotAShot(f"{path} is not a readable shotline shot: {exc}") from None
    if facts != relative.parts[:3]:
        raise NotAShot(f"{path}: its globals say {'/'.join(facts)}")
    digest, size = sha256_of(str(real))
    return ExecutedShot(str(real), facts[1], facts[0], facts[2], shot_index, digest, size, error)


def candidate_shots(shots_root: Path) -> list[str]:
    """Every file that may be a shot, for the start-up rescan."""
    return sorted(str(p) for p in shots_root.glob("*/*/*/*.h5") if _NAME.match(p.name))
