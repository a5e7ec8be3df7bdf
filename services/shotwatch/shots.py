"""What makes a file an executed shot of a shotline job, and the facts ShotFinished carries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.shot_storage import RUN_TIME_ATTR, NotInSpool, sha256_of, spool_place


class NotAShot(ValueError):
    """The file is not an executed shot of a job spooled under the shot folder."""


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


def inspect_shot(path: str, shots_root: Path) -> ExecutedShot:
    """Check ``path`` is an executed shot whose globals agree with where it lies.

    Raises:
        NotAShot: with the reason, for anything else.
    """
    import h5py

    try:
        place = spool_place(path, shots_root)
    except NotInSpool as exc:
        raise NotAShot(str(exc)) from None
    real = place.path
    try:
        with h5py.File(real, "r") as f:
            if RUN_TIME_ATTR not in f.attrs:
                raise NotAShot(f"{path} has not been run (no {RUN_TIME_ATTR!r})")
            g = f["globals"].attrs
            facts = (_text(g["backend"]), _text(g["job_id"]), _text(g["experiment_name"]))
            shot_index = int(g["shot_index"])
            error = _text(f["data/emulator"].attrs.get("error", "")) if "data/emulator" in f else ""
    except (OSError, KeyError) as exc:
        raise NotAShot(f"{path} is not a readable shotline shot: {exc}") from None
    if facts != (place.backend, place.job_id, place.experiment):
        raise NotAShot(f"{path}: its globals say {'/'.join(facts)}")
    digest, size = sha256_of(real)
    return ExecutedShot(str(real), facts[1], facts[0], facts[2], shot_index, digest, size, error)
