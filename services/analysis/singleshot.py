"""ShotFinished -> the backend's single-shot lyse routines -> ShotAnalysed (or JobFailed)."""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from contracts.events import ShotAnalysed, ShotFinished, Stage
from contracts.topology import ANALYSIS_SHOTS
from services.analysis import shotfile
from services.analysis.registry import ANALYSES, BackendAnalysis
from services.analysis.routine_worker import RoutineWorker, WorkerReply, WorkerUnavailable
from services.analysis.settings import AnalysisSettings
from services.common.bus import HandlerContext, PermanentError, TransientError
from services.common.service import handles
from services.common.shot_storage import find_archived, replacing, sha256_of

log = structlog.get_logger(__name__)
#: Errors of the storage rather than of the file: worth retrying.
_TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.ESTALE}

#: Runs routines on a file; the callable restores the file before a retry in a fresh worker.
RunRoutines = Callable[[str, Sequence[str], Callable[[], None]], WorkerReply]


class ShotAnalysisFailed(Exception):
    """The shot cannot be analysed; ``reason`` is what the user reads in the job's error."""


@dataclass(frozen=True)
class ShotOutcome:
    memory: str
    sha256: str
    size: int


def analyse_shot(path: Path, expected_sha256: str, analysis: BackendAnalysis,
                 routines_dir: Path, run_routines: RunRoutines, lock_dir: Path) -> ShotOutcome:
    """Run the routines once per shot file, whatever the number of deliveries.

    A file with the done marker is final and only read. A file without it is analysed if it is
    the executed shot that was announced (checksum) or a previous attempt got partway (results
    but no marker; the routines overwrite what they saved). Anything else changed the file
    behind our back, and analysing it would publish an outcome nobody can vouch for.

    Raises:
        ShotAnalysisFailed: a routine failed, or the file is not the announced shot.
    """
    with shotfile.exclusive(path, lock_dir):
        state = shotfile.analysis_state(path)
        if not state.done:
            if not state.has_results:
                actual, _ = sha256_of(path)
                if actual != expected_sha256:
                    raise ShotAnalysisFailed(
                        f"shot file changed since it was executed (sha256 {actual[:12]}… "
                        f"instead of {expected_sha256[:12]}…)")
            else:
                log.warning("reanalysing_partial_shot", path=str(path))
            routines = [str(routines_dir / name) for name in analysis.single_shot]
            # The routines write into a copy that replaces the shot only once finalised, so the
            # shot itself is always either as executed or fully analysed: a routine killed
            # midway (HDF5 may have flushed part of its metadata) never leaves changed bytes
            # for the checksum test above to take for tampering. A copy left by a killed
            # attempt is overwritten by the next one.
            with replacing(path, work=path.with_name(f".{path.name}.analysing")) as work:
                shutil.copyfile(path, work)
                reply = run_routines(str(work), routines,
                                     lambda: shutil.copyfile(path, work))
                if not reply.ok:
                    raise ShotAnalysisFailed(reply.error or "analysis failed")
                memory = _memory(work, analysis, final=True)
        else:
            memory = _memory(path, analysis)
        sha256, size = sha256_of(path)
    return ShotOutcome(memory, sha256, size)


def _memory(path: Path, analysis: BackendAnalysis, final: bool = False) -> str:
    """The shot's memory; with ``final`` also mark the shot analysed."""
    try:
        if final:
            return shotfile.finalise(path, analysis.memory_group, analysis.single_shot)
        return shotfile.read_memory(path, analysis.memory_group)
    except KeyError as exc:
        raise ShotAnalysisFailed(f"analysis routine {analysis.memory_group}: {exc.args[0]}") from None


class ShotAnalyser:
    """The thin handler of ``ANALYSIS_SHOTS``; owns the routine worker of its thread."""

    def __init__(self, settings: AnalysisSettings, routines_dir: Path,
                 worker: RoutineWorker | None = None,
                 analyses: Mapping[str, BackendAnalysis] = ANALYSES) -> None:
        self._settings = settings
        self._routines_dir = routines_dir
        self._worker = worker or RoutineWorker("singleshot")
        self._analyses = analyses

    def warm_up(self) -> None:
        self._worker.start()

    def close(self) -> None:
        self._worker.stop()

    def _run_routines(self, path: str, routines: Sequence[str],
                      restore: Callable[[], None]) -> WorkerReply:
        request = {"op": "singleshot", "path": path, "routines": list(routines)}
        reply = self._worker.request(request, self._settings.analysis_routine_timeout_s, restore)
        if not reply.ok and reply.error and not reply.error.startswith("analysis routine"):
            # A timeout or a crash names no routine yet; name them for the user.
            names = ", ".join(Path(r).stem for r in routines)
            return WorkerReply(False, f"analysis routine(s) {names} {reply.error}", reply.body)
        return reply

    @handles(ANALYSIS_SHOTS)
    def on_shot_finished(self, event: ShotFinished, ctx: HandlerContext) -> None:
        shot = f"{event.experiment} shot {event.shot_index}"
        analysis = self._analyses.get(event.backend)
        if analysis is None:
            self._fail(ctx, f"no analysis routines are configured for backend {event.backend!r}")
            return
        path = Path(event.path)
        if not self._settings.owns_shot(path):
            # Only the spool is ours to write /results into; anything else is a forged or
            # misrouted message, never a reason to touch a file.
            raise PermanentError(f"{path} is not under the shot folders {self._settings.shots_dir}")
        if not path.exists():
            if self._already_archived(event):
                return
            self._fail(ctx, f"{shot}: shot file {path} does not exist")
            return
        try:
            failure = shotfile.executor_failure(path)
            if failure is not None:
                self._fail(ctx, f"{shot}: {failure}", stage="execution")
                return
            outcome = analyse_shot(path, event.sha256, analysis, self._routines_dir,
                                   self._run_routines, self._settings.lock_dir)
        except ShotAnalysisFailed as exc:
            self._fail(ctx, f"{shot}: {exc}")
            return
        except WorkerUnavailable as exc:
            raise TransientError(str(exc)) from exc
        except FileNotFoundError as exc:
            # A duplicate announcement can race the archiver, which moves the file away right
            # after the first one's ShotAnalysed: an archived shot is no failure.
            if self._already_archived(event):
                return
            self._fail(ctx, f"{shot}: cannot read the shot file: {exc}")
            return
        except OSError as exc:
            if exc.errno in _TRANSIENT_ERRNOS:
                log.error("shot_storage_error", path=str(path), error=str(exc))
                raise TransientError(f"storage error on {path}: {exc}") from exc
            self._fail(ctx, f"{shot}: cannot read the shot file: {exc}")
            return
        ctx.publish(ShotAnalysed, experiment=event.experiment, shot_index=event.shot_index,
                    path=str(path), sha256=outcome.sha256, size=outcome.size, memory=outcome.memory)
        log.debug("shot_analysed", shot=shot, memory=outcome.memory)

    def _already_archived(self, event: ShotFinished) -> bool:
        archived = find_archived(self._settings.archive_root, event.backend, event.job_id,
                                 event.experiment, event.shot_index)
        if archived is not None:
            log.info("shot_already_archived", path=str(archived))  # a late duplicate
        return archived is not None

    @staticmethod
    def _fail(ctx: HandlerContext, reason: str, stage: Stage = "analysis") -> None:
        log.error("shot_analysis_failed", reason=reason, stage=stage)
        ctx.fail(stage, reason)
