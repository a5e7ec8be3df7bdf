"""The archiver service: ShotAnalysed -> the shot moved into the SDS archive -> ShotArchived."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import h5py
import structlog

from contracts.events import ShotAnalysed, ShotArchived
from contracts.topology import ARCHIVER_SHOTS
from services.archiver.transfer import (
    ArchiveIntegrityError,
    ArchiveUnavailable,
    SourceMissing,
    archive_shot,
    remove_stale_parts,
)
from services.archiver.settings import ArchiverSettings
from services.common.bus import HandlerContext, PermanentError, TransientError
from services.common.metrics import ARCHIVE_BYTES
from services.common.service import Service, handles
from services.common.shot_storage import archive_path, find_archived

log = structlog.get_logger(__name__)


def filing_day(source: Path, fallback: date) -> date:
    """The shot's sequence date (runmanager's ``sequence_date``, shared by every shot of an
    experiment, so an experiment never straddles two day folders); ``fallback`` without it."""
    try:
        with h5py.File(source, "r") as f:
            value = f.attrs.get("sequence_date")
        if value is not None:
            return date.fromisoformat(value.decode() if isinstance(value, bytes) else str(value))
    except (OSError, ValueError):
        pass
    return fallback


class Archiver(Service[ArchiverSettings], name="archiver", settings=ArchiverSettings):
    """ShotAnalysed -> the shot moved into the archive, verified -> ShotArchived."""

    def __init__(self, settings: ArchiverSettings) -> None:
        super().__init__(settings)
        self._root = settings.archive_root
        prepare_archive(settings)

    def consumer_options(self) -> dict[str, object]:
        return {"prefetch": self.settings.archiver_prefetch}

    def destination(self, event: ShotAnalysed) -> Path:
        source = Path(event.path)
        if not source.exists():
            found = find_archived(self._root, event.backend, event.job_id, event.experiment,
                                  event.shot_index)
            if found is not None:
                return found
        day = filing_day(source, event.produced_at.date())
        return archive_path(self._root, event.backend, day, event.job_id, event.experiment,
                            event.shot_index)

    @handles(ARCHIVER_SHOTS)
    def on_shot_analysed(self, event: ShotAnalysed, ctx: HandlerContext) -> None:
        if not self.settings.owns_shot(event.path):
            # The archiver deletes what it archives: never a file outside the spool.
            raise PermanentError(f"{event.path} is not under the shot folders {self.settings.shots_dir}")
        shot = f"{event.experiment} shot {event.shot_index}"
        dest = self.destination(event)
        try:
            archived = archive_shot(Path(event.path), dest, self._root, event.sha256,
                                    self.settings.archiver_min_free_bytes)
        except (ArchiveUnavailable, OSError) as exc:
            # Never lost: the original stays where it is until a retry succeeds.
            log.error("archive_unavailable", shot=shot, dest=str(dest), error=str(exc))
            raise TransientError(f"cannot archive {shot} to {dest}: {exc}") from exc
        except (ArchiveIntegrityError, SourceMissing) as exc:
            log.error("archive_refused", shot=shot, error=str(exc))
            ctx.fail("archiving", f"{shot}: {exc}")
            return
        if archived.already:  # a redelivery: nothing new was written
            log.info("shot_already_archived", shot=shot, path=str(archived.path))
        else:
            ARCHIVE_BYTES.inc(archived.size)
        ctx.publish(ShotArchived, experiment=event.experiment, shot_index=event.shot_index,
                    path=str(archived.path), sha256=archived.sha256, size=archived.size,
                    memory=event.memory)


def prepare_archive(settings: ArchiverSettings) -> None:
    """Make the default archive folder and clear copies left by killed archivers."""
    if settings.sds_root is None:
        # The default archive is a local folder: make it. A configured SDS root is a mount
        # point that must never be created (that would archive onto the local disk).
        settings.archive_root.mkdir(parents=True, exist_ok=True)
    elif not settings.archive_root.is_dir():
        log.error("archive_root_missing", root=str(settings.archive_root))
    stale = remove_stale_parts(settings.archive_root, time.time())
    if stale:
        log.warning("stale_parts_removed", count=len(stale), first=str(stale[0]))


SERVICE = Archiver

