"""Thin handlers of the spooler: a submitted job becomes compiled templates in the book; a cancel
drops the shots not yet handed over."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from contracts.events import (
    JobCancelled, JobCancelRequested, JobSpooled, JobSubmitted, SpooledExperiment,
)
from contracts.job import experiment_index
from services.common.bus import HandlerContext, JobEvents
from services.common.shot_storage import experiment_folder, job_folder, template_path
from services.spooler.book import ExperimentRecord, JobBook, JobRecord
from services.spooler.compiler import TemplateRequest
from services.spooler.shot_globals import experiment_globals, fresh_entropy
from services.spooler.worker import CompileError, CompileTimedOut, CompileWorker

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Spooling:
    """What the job handler works with."""

    book: JobBook
    worker: CompileWorker
    shots_root: Path  # settings.shots_dir (SHOTLINE_SHOTS_ROOT, default HOME/shots)
    labscriptlib: Path  # where the sequence scripts live


def plan_job(event: JobSubmitted, shots_root: Path, labscriptlib: Path,
             now: datetime) -> tuple[JobRecord, list[TemplateRequest]]:
    """The job's record and one template compile per experiment, experiments in numeric order."""
    entropy = fresh_entropy()  # only used by experiments without a seed
    script = str(labscriptlib / f"sequence_{event.backend}.py")
    experiments, requests = [], []
    for name, spec in event.payload.experiments():
        index = experiment_index(name)
        g = experiment_globals(event.job_id, event.backend, name, index, spec.to_wire(), entropy)
        folder = experiment_folder(shots_root, event.backend, event.job_id, name)
        template = str(template_path(folder))
        experiments.append(ExperimentRecord(name, index, g.n_shots, str(folder), template,
                                            g.experiment_seed))
        requests.append(TemplateRequest(script, template, event.job_id, name, g, now))
    return JobRecord(event.job_id, event.backend, experiments), requests


def announce_spooled(job: JobEvents, record: JobRecord) -> None:
    job.publish(JobSpooled, total_shots=record.planned, experiments=[
        SpooledExperiment(name=e.name, n_shots=e.n_shots) for e in record.experiments])


def on_job_submitted(event: JobSubmitted, ctx: HandlerContext, spooling: Spooling) -> None:
    """Compile every experiment's template, record the job, announce JobSpooled."""
    book = spooling.book
    known = book.get(event.job_id)
    if known is not None:  # a redelivery after a crash: the job is already in hand
        announce_spooled(ctx, known)
        return
    record, requests = plan_job(event, spooling.shots_root, spooling.labscriptlib, datetime.now())
    if book.is_cancelled(event.job_id):
        ctx.publish(JobCancelled, shots_dropped=record.planned)
        return
    for request in requests:
        try:
            spooling.worker.call("compile_template", request)
        except (CompileError, CompileTimedOut) as exc:
            shutil.rmtree(job_folder(spooling.shots_root, event.backend, event.job_id),
                          ignore_errors=True)
            log.warning("job_not_compiled", experiment=request.experiment, reason=str(exc)[:500])
            ctx.fail("spooling", f"{request.experiment} did not compile: {exc}")
            return
    if not book.admit(record):  # cancelled while compiling
        shutil.rmtree(job_folder(spooling.shots_root, event.backend, event.job_id),
                      ignore_errors=True)
        ctx.publish(JobCancelled, shots_dropped=record.planned)
        return
    announce_spooled(ctx, record)
    log.info("job_spooled", experiments=len(record.experiments), shots=record.planned)


def on_job_cancel_requested(event: JobCancelRequested, ctx: HandlerContext, book: JobBook) -> None:
    dropped = book.cancel(event.job_id)
    if dropped is None:
        log.info("cancel_recorded", detail="job not in hand; dropped when it arrives")
        return
    log.info("job_cancelled", shots_dropped=dropped)
    ctx.publish(JobCancelled, shots_dropped=dropped)
