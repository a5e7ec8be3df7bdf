"""The multi-shot results consumer: job bookkeeping, progress, and JobDone once every shot is archived."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

from contracts.backends import UnknownBackendError, get_backend
from contracts.events import (
    JobCancelled, JobDone, JobFailed, JobSpooled, JobStatusChanged, MessageTooLarge, ShotArchived,
)
from contracts.job import JobPayload, experiment_index
from contracts.result import build_result
from contracts.status import JobStatus
from services.analysis.bookkeeping import ArchivedShot, ResultsBook
from services.analysis.registry import ANALYSES, BackendAnalysis
from services.analysis.routine_worker import RoutineWorker, WorkerUnavailable
from services.analysis.settings import AnalysisSettings
from contracts.topology import RESULTS_PROGRESS
from services.common.bus import HandlerContext, TransientError
from services.common.service import handles
from services.common.shot_storage import experiment_csv, experiment_multishot

log = structlog.get_logger(__name__)


class ResultFailed(Exception):
    """The job's result cannot be built; ``str`` is the user-facing reason."""


def experiment_files(name: str, shots: Sequence[ArchivedShot]) -> tuple[Path, Path]:
    """Where an experiment's CSV and multi-shot HDF5 file go: next to its archived shots."""
    folder = Path(shots[0].path).parent
    return experiment_csv(folder, name), experiment_multishot(folder, name)


def payload_from_globals(shots_per_experiment: Mapping[str, int],
                         globals_: Mapping[str, Mapping[str, Any]], default_wires: int) -> JobPayload:
    """The job as it ran, rebuilt from the shots' own globals (the circuit the executor saw)."""
    experiments: dict[str, Any] = {}
    for name, shots in shots_per_experiment.items():
        found = globals_.get(name, {})
        circuit = found.get("circuit_json")
        experiments[name] = {
            "instructions": json.loads(circuit) if isinstance(circuit, str) and circuit else [],
            "shots": shots,
            "num_wires": int(found.get("num_wires") or default_wires),
        }
    return JobPayload.model_validate(experiments)


def memory_list(shots: Sequence[ArchivedShot]) -> list[str]:
    """One memory string per shot in shot order; [] when nothing was measured, as qiskit-cold-atom expects."""
    memories = [shot.memory for shot in shots]
    return [] if all(m == "" for m in memories) else memories


class ResultsKeeper:
    """The thin handler of ``RESULTS_PROGRESS``; owns the multi-shot routine worker of its thread."""

    def __init__(self, settings: AnalysisSettings, routines_dir: Path, book: ResultsBook,
                 worker: RoutineWorker | None = None,
                 analyses: Mapping[str, BackendAnalysis] = ANALYSES) -> None:
        self._settings = settings
        self._analyses = analyses
        self._routines_dir = routines_dir
        self._book = book
        self._worker = worker or RoutineWorker("multishot")

    def close(self) -> None:
        self._worker.stop()
        self._book.close()

    @handles(RESULTS_PROGRESS)
    def on_job_spooled(self, event: JobSpooled, ctx: HandlerContext) -> None:
        shots = [(e.name, k) for e in event.experiments for k in range(e.n_shots)]
        self._book.expect(event.job_id, event.backend, shots, event.total_shots)
        self._advance(ctx)

    @handles(RESULTS_PROGRESS)
    def on_shot_archived(self, event: ShotArchived, ctx: HandlerContext) -> None:
        self._book.record_archived(event.job_id, event.backend, event.experiment,
                                   event.shot_index, event.path, event.sha256, event.memory)
        # Always advance, even on a duplicate: the process may have stopped between recording
        # the last shot and publishing JobDone.
        self._advance(ctx)

    @handles(RESULTS_PROGRESS)
    def on_job_cancelled(self, event: JobCancelled, ctx: HandlerContext) -> None:
        self._book.cancel(event.job_id, event.backend)

    @handles(RESULTS_PROGRESS)
    def on_job_failed(self, event: JobFailed, ctx: HandlerContext) -> None:
        # Whichever stage failed it, the job will never be complete: close its books.
        self._book.close_open(event.job_id, event.backend, "failed")

    def _advance(self, ctx: HandlerContext) -> None:
        progress = self._book.progress(ctx.job_id)
        if progress is None or progress.state != "open" or progress.total is None:
            return
        if self._book.claim_report(ctx.job_id, progress.done, progress.total):
            ctx.publish(JobStatusChanged, status=JobStatus.RUNNING,
                        detail=f"{progress.done} of {progress.total} shots done",
                        shots_done=progress.done, shots_total=progress.total)
        if progress.complete:
            self._finish(ctx)

    def _finish(self, ctx: HandlerContext) -> None:
        job_id = ctx.job_id
        try:
            result = self.build(job_id, ctx.backend)
        except ResultFailed as exc:
            log.error("result_failed", reason=str(exc))
            ctx.fail("result", str(exc))
            self._book.set_state(job_id, "failed")
            return
        try:
            ctx.publish(JobDone, result=result)
        except MessageTooLarge as exc:  # validation bounds results (RESULT_SIZE); last line
            log.error("result_too_large", reason=str(exc))
            ctx.fail("result", f"the result is too large to send: {exc}")
            self._book.set_state(job_id, "failed")
            return
        # Marked after the publish: a crash in between publishes JobDone again (at least once),
        # never not at all.
        self._book.set_state(job_id, "done")
        log.info("job_done", experiments=len(result["results"]))

    def build(self, job_id: str, backend: str) -> dict[str, Any]:
        """DataFrame + CSV + multi-shot routines per experiment, then the result dict.

        Raises:
            ResultFailed: a multi-shot routine failed, or the backend or circuit is unknown.
            TransientError: the routine worker cannot be started.
        """
        try:
            spec = get_backend(backend)
        except UnknownBackendError as exc:
            raise ResultFailed(str(exc)) from None
        analysis = self._analyses.get(backend)
        routines = [str(self._routines_dir / name) for name in (analysis.multi_shot if analysis else ())]
        experiments = self._book.experiments(job_id)
        found: dict[str, Mapping[str, Any]] = {}
        for name in sorted(experiments, key=experiment_index):
            shots = experiments[name]
            csv, h5 = experiment_files(name, shots)
            request = {"op": "multishot", "paths": [s.path for s in shots], "csv": str(csv),
                       "h5": str(h5), "routines": routines}
            try:
                # A retry in a fresh worker starts from no multi-shot file: a killed attempt
                # may have left it half written.
                reply = self._worker.request(request, self._settings.analysis_multishot_timeout_s,
                                             lambda: h5.unlink(missing_ok=True))
            except WorkerUnavailable as exc:
                raise TransientError(str(exc)) from exc
            if not reply.ok:
                raise ResultFailed(f"{name}: multi-shot analysis {reply.error}")
            found[name] = reply.body.get("globals", {})
        try:
            payload = payload_from_globals({n: len(s) for n, s in experiments.items()}, found,
                                           spec.num_wires)
            memories = {name: memory_list(shots) for name, shots in experiments.items()}
            return build_result(job_id, spec, memories, payload)
        except ValueError as exc:  # pydantic's ValidationError included
            raise ResultFailed(f"cannot build the result: {exc}") from None
