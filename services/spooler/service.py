"""The spooler: submitted jobs become compiled shots in its book, handed to the executor in order.

Its job queue is a gated route: a job is taken only while the book has room (the running job
plus the look-ahead), otherwise the next job is held unacked, so later jobs stay ready messages
and single-active-consumer keeps a standby spooler waiting. Shot progress arrives on a listener
queue; shots finished while the spooler was away are recovered from the files on reconnect.
"""

from __future__ import annotations

import os

import structlog

from contracts.events import JobCancelRequested, JobSubmitted, ShotFinished
from contracts.topology import SPOOLER_CANCELS, SPOOLER_JOBS, SPOOLER_SHOT_PROGRESS
from services.common.bus import HandlerContext
from services.common.service import Part, Service, handles
from services.spooler.settings import SpoolerSettings

log = structlog.get_logger(__name__)


class Spooler(Service[SpoolerSettings], name="spooler", settings=SpoolerSettings):
    """Jobs in, shots out; ``parts`` are the consumer and the hand-over loop."""

    def __init__(self, settings: SpoolerSettings) -> None:
        from services.spooler.labscript_env import prepare_labscript

        super().__init__(settings)
        # Before anything imports labscript_utils or h5py:
        profile = prepare_labscript(zlock=settings.zlock)
        from services.spooler.book import JobBook
        from services.spooler.feeder import Feeder
        from services.spooler.handlers import Spooling
        from services.spooler.worker import CompileWorker

        self.book = JobBook(settings.home / "spooler", settings.jobs_in_hand)
        # The compile worker inherits READTHEDOCS from this process: with a real BLACS both
        # take zlock locks on shot files, without one neither does.
        self.worker = CompileWorker({k: v for k, v in os.environ.items() if k == "READTHEDOCS"})
        self.spooling = Spooling(self.book, self.worker, settings.shots_dir, profile.labscriptlib)
        self.feeder = Feeder(settings, self.book, self.name)

    @handles(SPOOLER_JOBS, gate=lambda s: s.book.has_room, hold_limit_s=lambda s: s.settings.intake_hold_s)
    def on_job_submitted(self, event: JobSubmitted, ctx: HandlerContext) -> None:
        from services.spooler.handlers import on_job_submitted

        on_job_submitted(event, ctx, self.spooling)

    @handles(SPOOLER_CANCELS)
    def on_job_cancel_requested(self, event: JobCancelRequested, ctx: HandlerContext) -> None:
        from services.spooler.handlers import on_job_cancel_requested

        on_job_cancel_requested(event, ctx, self.book)

    @handles(SPOOLER_SHOT_PROGRESS, on_connected=lambda s: s.feeder.rescan)
    def on_shot_finished(self, event: ShotFinished, ctx: HandlerContext) -> None:
        self.book.mark_finished(event.job_id, event.experiment, event.shot_index)

    def parts(self) -> list[Part]:
        return [*super().parts(), self.feeder]

    def start(self) -> None:
        self.worker.warm_up()  # pay labscript's import before the first job arrives

    def close(self) -> None:
        self.worker.close()


SERVICE = Spooler
