"""Where shot files live and how they are written: spool and archive layout, checksum, fsync,
atomic replace, and the "executed" check.

The spool (``SHOTLINE_SHOTS_ROOT``, default ``SHOTLINE_HOME/shots``) holds
``<backend>/<job_id>/<experiment>/<NNNN>.h5`` next to the experiment's ``template.h5``; a real
BLACS re-running a shot adds ``_repNNNNN`` to the name. The archive holds
``<backend>/<yyyy>/<mm>/<dd>/<job_id>/<experiment>/<NNNN>.h5``. h5py is imported inside the
functions that need it: a process must import labscript's h5_lock first
(services/common/labscript_env.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

#: Root attribute BLACS (and the emulator) writes when it saves an executed shot.
RUN_TIME_ATTR = "run time"
#: The compiled shot 0 of an experiment, which every shot file of it is derived from.
TEMPLATE_NAME = "template.h5"
#: A shot file's name: its index, and the suffix BLACS adds to a re-run.
SHOT_NAME = re.compile(r"^(\d+)(_rep\d{5})?\.h5$")
_CHUNK = 1 << 20


class NotInSpool(ValueError):
    """A path that is not ``<backend>/<job_id>/<experiment>/<shot>.h5`` under the spool."""


@dataclass(frozen=True)
class SpoolPlace:
    """Where a shot file lies in the spool, read off its path (not its contents)."""

    path: Path  # symlinks and ``..`` resolved
    backend: str
    job_id: str
    experiment: str
    name: str  # the file name, e.g. 0003.h5 or 0003_rep00001.h5


# -- names and layout -------------------------------------------------------------------------
def shot_name(shot_index: int) -> str:
    # Zero-padded so a folder listing is in shot order for the usual job sizes.
    return f"{shot_index:04d}.h5"


def job_folder(shots_dir: Path, backend: str, job_id: str) -> Path:
    """The spool folder of a job: everything of it that is not yet archived."""
    return shots_dir / backend / job_id


def experiment_folder(shots_dir: Path, backend: str, job_id: str, experiment: str) -> Path:
    return job_folder(shots_dir, backend, job_id) / experiment


def template_path(folder: str | Path) -> Path:
    """The template of the experiment whose spool folder is ``folder``."""
    return Path(folder) / TEMPLATE_NAME


def shot_path(folder: str | Path, shot_index: int) -> Path:
    """Shot ``shot_index`` of the experiment whose spool folder is ``folder``."""
    return Path(folder) / shot_name(shot_index)


def spool_place(path: str | Path, shots_dir: Path) -> SpoolPlace:
    """Read backend, job, experiment and file name off a shot's path (symlinks resolved).

    Raises:
        NotInSpool: the path is outside ``shots_dir`` or not shaped like a shot file.
    """
    real = Path(os.path.realpath(path))
    try:
        relative = real.relative_to(os.path.realpath(shots_dir))
    except ValueError:
        raise NotInSpool(f"{path} is not under the shot folder {shots_dir}") from None
    if len(relative.parts) != 4 or not SHOT_NAME.match(relative.parts[3]):
        raise NotInSpool(f"{path} is not <backend>/<job>/<experiment>/<shot>.h5")
    return SpoolPlace(real, *relative.parts)


def spooled_shot_files(shots_dir: Path) -> list[str]:
    """Every file in the spool named like a shot (templates and working copies excluded), sorted."""
    return sorted(str(p) for p in shots_dir.glob("*/*/*/*.h5") if SHOT_NAME.match(p.name))


def experiment_csv(folder: Path, experiment: str) -> Path:
    """The lyse DataFrame of an experiment, as CSV, in its archive folder."""
    return folder / f"{experiment}.csv"


def experiment_multishot(folder: Path, experiment: str) -> Path:
    """Where an experiment's multi-shot routines save their results, in its archive folder."""
    return folder / f"{experiment}.multishot.h5"


def archive_path(root: Path, backend: str, day: date, job_id: str, experiment: str,
                 shot_index: int) -> Path:
    return (root / backend / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / job_id / experiment
            / shot_name(shot_index))


def find_archived(root: Path, backend: str, job_id: str, experiment: str,
                  shot_index: int) -> Path | None:
    """The archived copy of a shot whatever day it was filed under, or None."""
    pattern = f"{backend}/*/*/*/{job_id}/{experiment}/{shot_name(shot_index)}"
    found = sorted(root.glob(pattern))
    return found[0] if found else None


# -- contents ---------------------------------------------------------------------------------
def sha256_of(path: str | Path) -> tuple[str, int]:
    """The file's sha256 (hex) and size in bytes: the one checksum every service compares."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def is_executed(path: str | Path) -> bool:
    """Whether the executor ran the shot (it writes ``run time`` when it saves the shot);
    False for a missing file or one the executor is still writing."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return RUN_TIME_ATTR in f.attrs
    except (OSError, KeyError):
        return False


# -- durability -------------------------------------------------------------------------------
def fsync_file(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Make the folder's entries (a created, renamed or removed name) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def makedirs_durable(folder: Path, root: Path) -> None:
    """Create ``folder`` below ``root`` (which must exist), fsyncing each parent whose entries
    changed, so a folder a durable file is renamed into survives a power cut too."""
    missing = []
    current = folder
    while not current.exists() and current != root:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue  # another process made it: its parent entry is that process's to sync
        fsync_dir(path.parent)


@contextmanager
def replacing(target: str | Path, work: str | Path | None = None) -> Iterator[Path]:
    """Yield a working file beside ``target`` for the block to write; if the block succeeds the
    file is fsynced, renamed over ``target`` in one step and the rename made durable (folder
    fsynced). If it fails the working file is removed and ``target`` is as it was.

    ``work`` is the working file's name: a fixed one lets the retry of a killed attempt
    overwrite its leftover. The default is unique, so concurrent writers never share one.
    """
    target = Path(target)
    tmp = Path(work) if work is not None else target.with_name(
        f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
