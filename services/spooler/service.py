"""The spooler service: wires the job intake, cancels, shot progress and the hand-over loop."""

from __future__ import annotations

import os
import threading

import structlog

from contracts.topology import SPOOLER_CANCELS
from services.common.bus import Consumer, Route
from services.common.metrics import metered
from services.common.runner import announce_when_ready, run_service
from services.spooler.settings import SpoolerSettings

log = structlog.get_logger(__name__)
#: Queue label of the spooler's ShotFinished feed (an exclusive, server-named queue).
PROGRESS_FEED = "spooler.shot_progress"


class Spooler:
    """All parts of the spooler; ``run`` blocks until ``stop``."""

    def __init__(self, settings: SpoolerSettings) -> None:
        from services.spooler.labscript_env import prepare_labscript

        # Before anything imports labscript_utils or h5py:
        profile = prepare_labscript(zlock=settings.zlock)
        from services.spooler.book import JobBook
        from services.spooler.feeder import Feeder
        from services.spooler.handlers import Spooling, on_job_cancel_requested, on_job_submitted
        from services.spooler.intake import JobIntake
        from services.spooler.progress import ShotProgress
        from services.spooler.worker import CompileWorker

        self.book = JobBook(settings.home / "spooler", settings.jobs_in_hand)
        # The compile worker inherits READTHEDOCS from this process: with a real BLACS both
        # take zlock locks on shot files, without one neither does.
        self.worker = CompileWorker({k: v for k, v in os.environ.items() if k == "READTHEDOCS"})
        spooling = Spooling(self.book, self.worker, settings.shots_dir, profile.labscriptlib)
        self.feeder = Feeder(settings, self.book)
        self.intake = JobIntake(settings.amqp_url, lambda e, p: on_job_submitted(e, p, spooling),
                                self.book.has_room, settings.intake_hold_s)
        self.cancels = Consumer(settings.amqp_url, "spooler", [
            Route(SPOOLER_CANCELS, lambda e, ctx: on_job_cancel_requested(e, ctx, self.book))])
        self.progress = ShotProgress(
            settings.amqp_url,
            lambda e: self.book.mark_finished(e.job_id, e.experiment, e.shot_index),
            self.feeder.rescan)
        self._meter_loops()
        self._stopping = threading.Event()

    def _meter_loops(self) -> None:
        """The progress feed is a hand-written loop, not the common Consumer: count its messages
        the same way (the intake counts its own)."""
        deliver = self.progress._deliver  # auto-acked: every delivery's fate is "ack"
        self.progress._deliver = metered(lambda *args: deliver(*args) or "ack", PROGRESS_FEED)

    def run(self) -> None:
        self.worker.warm_up()  # pay labscript's import before the first job arrives
        threads = [threading.Thread(target=part.run, name=f"spooler-{name}", daemon=True)
                   for name, part in (("feeder", self.feeder), ("progress", self.progress),
                                      ("cancels", self.cancels))]
        for thread in threads:
            thread.start()
        threading.Thread(
            target=announce_when_ready, daemon=True,
            args=([self.intake.ready, self.progress.ready, self.cancels.ready], self._stopping.is_set),
        ).start()
        try:
            self.intake.run()  # returns after stop()
        finally:
            for part in (self.feeder, self.progress, self.cancels):
                part.stop()
            for thread in threads:
                thread.join(10)
            self.worker.close()
            log.info("stopped")

    def stop(self) -> None:
        self._stopping.set()
        self.intake.stop()


def run() -> None:
    """Entry point of ``shotline spooler``."""
    run_service("spooler", SpoolerSettings, Spooler)

if __name__ == "__main__":
    run()
