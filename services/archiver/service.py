"""The archiver service: ShotAnalysed -> the shot moved into the SDS archive -> ShotArchived."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import h5py
import structlog

from contracts.events import Event, JobFailed, ShotAnalysed, ShotArchived
from contracts.topology import ARCHIVER_SHOTS
from services.archiver.protocol import (
    ArchiveIntegrityError,
    ArchiveUnavailable,
    SourceMissing,
    archive_shot,
    remove_stale_parts,
)
from services.archiver.settings import ArchiverSettings
from services.common.bus import Consumer, MessageContext, PermanentError, Route, TransientError
from services.common.logging import configure_logging
from services.common.metrics import ARCHIVE_BYTES, serve_metrics
from services.common.runner import run_consumer
from services.common.settings import load_settings
from services.common.shot_storage import archive_path, find_archived

log = structlog.get_logger(__name__)
SERVICE = "archiver"


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


class ShotArchiver:
    """The thin handler of ``ARCHIVER_SHOTS``."""

    def __init__(self, settings: ArchiverSettings) -> None:
        self._settings = settings
        self._root = settings.archive_root

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

    def __call__(self, event: Event, ctx: MessageContext) -> None:
        assert isinstance(event, ShotAnalysed)
        if not self._settings.owns_shot(event.path):
            # The archiver deletes what it archives: never a file outside the spool.
            raise PermanentError(f"{event.path} is not under the shot folders {self._settings.shots_dir}")
        shot = f"{event.experiment} shot {event.shot_index}"
        dest = self.destination(event)
        try:
            archived = archive_shot(Path(event.path), dest, self._root, event.sha256,
                                    self._settings.archiver_min_free_bytes)
        except (ArchiveUnavailable, OSError) as exc:
            # Never lost: the original stays where it is until a retry succeeds.
            log.error("archive_unavailable", shot=shot, dest=str(dest), error=str(exc))
            raise TransientError(f"cannot archive {shot} to {dest}: {exc}") from exc
        except (ArchiveIntegrityError, SourceMissing) as exc:
            log.error("archive_refused", shot=shot, error=str(exc))
            self._fail(event, ctx, f"{shot}: {exc}")
            return
        if archived.already:
            log.info("shot_already_archived", shot=shot, path=str(archived.path))
        else:  # a redelivery wrote nothing new
            ARCHIVE_BYTES.inc(archived.size)
        ctx.publisher.publish(ShotArchived.create(
            SERVICE, job_id=event.job_id, backend=event.backend, experiment=event.experiment,
            shot_index=event.shot_index, path=str(archived.path), sha256=archived.sha256,
            size=archived.size, memory=event.memory,
        ))

    @staticmethod
    def _fail(event: ShotAnalysed, ctx: MessageContext, reason: str) -> None:
        ctx.publisher.publish(JobFailed.create(
            SERVICE, job_id=event.job_id, backend=event.backend, stage="archiving",
            reason=reason[:4000],
        ))


def build_consumer(settings: ArchiverSettings) -> Consumer:
    if settings.sds_root is None:
        # The default archive is a local folder: make it. A configured SDS root is a mount
        # point that must never be created (that would archive onto the local disk).
        settings.archive_root.mkdir(parents=True, exist_ok=True)
    elif not settings.archive_root.is_dir():
        log.error("archive_root_missing", root=str(settings.archive_root))
    stale = remove_stale_parts(settings.archive_root, time.time())
    if stale:
        log.warning("stale_parts_removed", count=len(stale), first=str(stale[0]))
    return Consumer(settings.amqp_url, SERVICE, [Route(ARCHIVER_SHOTS, ShotArchiver(settings))],
                    prefetch=settings.archiver_prefetch)


def run() -> None:
    settings = load_settings(ArchiverSettings)
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    serve_metrics(settings.metrics_port, settings.metrics_host)
    run_consumer(build_consumer(settings))

