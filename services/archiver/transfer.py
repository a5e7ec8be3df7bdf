"""Moving one shot into the archive without ever losing it: copy, verify, fsync, rename, remove.

The original is removed only once a verified copy has its final name and that name is durable
(directory fsynced). A crash at any point leaves either the original, or the original and a
verified archived copy (the redelivery then just removes the original), plus at worst a hidden
``.part`` file that no reader ever takes for a shot.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from services.common.shot_storage import fsync_dir, makedirs_durable, replacing, sha256_of

_CHUNK = 1 << 20


class ArchiveUnavailable(Exception):
    """The archive cannot take the shot right now (missing, full, read-only): retry later."""


class ArchiveIntegrityError(Exception):
    """The shot is not what was announced, or the archive holds a different file under its name."""


class SourceMissing(Exception):
    """Neither the original nor a verified archived copy exists."""


@dataclass(frozen=True)
class Archived:
    path: Path
    sha256: str
    size: int
    already: bool  # the archive had it already (a redelivery); only the original was removed


def _copy_hashing(source: Path, target: Path) -> tuple[str, int]:
    """Copy, hashing the bytes read from the source on the way (``replacing`` fsyncs the copy)."""
    digest, size = hashlib.sha256(), 0
    with open(source, "rb") as src, open(target, "xb") as dst:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _remove_original(source: Path) -> None:
    try:
        source.unlink()
    except FileNotFoundError:
        return  # a concurrent duplicate removed it
    fsync_dir(source.parent)


def _remove_leftover_parts(dest: Path) -> None:
    """Drop working copies of ``dest`` left by an archiver killed mid-copy, now that ``dest`` is
    verified in place. A duplicate still copying loses its part, its rename fails, and its retry
    finds ``dest`` with the right checksum: the outcome is the same."""
    for part in dest.parent.glob(f".{dest.name}.*.part"):
        part.unlink(missing_ok=True)


def archive_shot(source: Path, dest: Path, root: Path, expected_sha256: str,
                 min_free_bytes: int = 0) -> Archived:
    """Move ``source`` to ``dest`` inside the archive ``root``; idempotent.

    Raises:
        ArchiveUnavailable: the root is missing, too full, or not writable (also ``OSError``
            from the file system, which the caller treats the same way).
        ArchiveIntegrityError: the source does not have the announced checksum, or ``dest``
            holds a different file.
        SourceMissing: nothing to archive and nothing archived.
    """
    if not root.is_dir():
        raise ArchiveUnavailable(f"archive root {root} does not exist (is the SDS mounted?)")
    if dest.exists():
        sha256, size = sha256_of(dest)
        if sha256 != expected_sha256:
            raise ArchiveIntegrityError(
                f"archive already holds a different file at {dest} (sha256 {sha256[:12]}…)")
        _remove_original(source)
        _remove_leftover_parts(dest)
        return Archived(dest, sha256, size, already=True)
    if not source.exists():
        raise SourceMissing(f"{source} is gone and {dest} was never archived")
    needed = source.stat().st_size + min_free_bytes
    free = shutil.disk_usage(root).free
    if free < needed:
        raise ArchiveUnavailable(
            f"archive {root} is full: {free} bytes free, {needed} needed (shot + reserve)")
    makedirs_durable(dest.parent, root)
    with replacing(dest, work=dest.parent / f".{dest.name}.{uuid.uuid4().hex[:12]}.part") as tmp:
        sha256, size = _copy_hashing(source, tmp)
        if sha256 != expected_sha256:
            raise ArchiveIntegrityError(
                f"{source} changed after analysis (sha256 {sha256[:12]}… instead of "
                f"{expected_sha256[:12]}…)")
        # Read back what the storage holds, not what we meant to write.
        copied, _ = sha256_of(tmp)
        if copied != sha256:
            raise ArchiveUnavailable(f"copy of {source} did not verify (sha256 {copied[:12]}…)")
    _remove_original(source)
    _remove_leftover_parts(dest)
    return Archived(dest, sha256, size, already=False)


#: A copy takes milliseconds; a .part file this old belongs to an archiver that was killed.
STALE_PART_S = 600.0


def remove_stale_parts(root: Path, now: float, older_than_s: float = STALE_PART_S) -> list[Path]:
    """Delete ``.part`` copies left by killed archivers (the shot itself is safe: the original
    is removed only after the verified rename). Young ones may be another archiver's, in flight."""
    removed = []
    for part in root.rglob(".*.part") if root.is_dir() else ():
        try:
            if now - part.stat().st_mtime > older_than_s:
                part.unlink()
                removed.append(part)
        except FileNotFoundError:
            pass  # its archiver finished or removed it meanwhile
    return removed
