"""Hands shots to the executor in order, keeping a bounded window of unfinished shots in it.

Each shot file is derived from its experiment's compiled template just before it is handed
over, so a cancelled job leaves no files behind and disk use follows the window, not the job.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Literal

import structlog

from contracts.events import JobFailed, JobStatusChanged
from contracts.status import JobStatus
from services.common.bus import JobEvents, Publisher, PublishFailed
from services.common.shot_storage import is_executed
from services.spooler.blacs_client import HandoverRefused, submit_shot
from services.spooler.book import Handover, JobBook, JobRecord
from services.spooler.compiler import derive_shot, per_shot_attrs_for
from services.spooler.settings import SpoolerSettings

log = structlog.get_logger(__name__)


class Feeder:
    """The hand-over loop; ``rescan()`` asks it to check handed shots' files once."""

    def __init__(self, settings: SpoolerSettings, book: JobBook, producer: str) -> None:
        self._settings = settings
        self._producer = producer
        self.ready = threading.Event()
        self._book = book
        self._stop = threading.Event()
        self._rescan = threading.Event()
        self._rescan.set()  # once at start: events may have been missed while we were down

    def stop(self) -> None:
        self._stop.set()
        with self._book.changed:
            self._book.changed.notify_all()

    def rescan(self) -> None:
        self._rescan.set()
        with self._book.changed:
            self._book.changed.notify_all()

    def run(self) -> None:
        publisher = Publisher(
            self._settings.amqp_url.get_secret_value(), f"{self._producer}.feeder")
        self.ready.set()
        try:
            while not self._stop.is_set():
                if self._rescan.is_set():
                    self._rescan.clear()
                    self._recover_finished()
                with self._book.changed:
                    handover = self._book.next_handover(self._settings.handover_window)
                    if handover is None:
                        woke = self._book.changed.wait(self._settings.rescan_interval_s)
                        if not woke and self._book.unfinished_handed():
                            self._rescan.set()  # no progress for a while: look at the files
                if handover is None:
                    self._fail_stalled(publisher)
                    continue
                self._hand_over(handover, publisher)
        finally:
            publisher.close()

    def _fail_stalled(self, publisher: Publisher) -> None:
        """A shot the executor lost (or a BLACS that hangs) must not hold its job, and every job
        behind it, forever: fail the job; its late shots, if any, are ignored downstream."""
        for job in self._book.stalled(time.monotonic(), self._settings.shot_timeout_s):
            if self._book.unfinished_handed() and self._rescan_now_finds_progress(job.job_id):
                continue
            waiting = [f"{e.name} shot {n}" for j, flat in self._book.unfinished_handed()
                       if j.job_id == job.job_id for e, n in [j.locate(flat)]]
            reason = (f"no shot finished for {self._settings.shot_timeout_s:.0f} s; the executor "
                      f"did not return {', '.join(waiting[:5])}")
            log.error("job_stalled", job_id=job.job_id, waiting=waiting[:5])
            self._book.fail(job.job_id)
            self._publish(publisher, job, JobFailed, stage="execution", reason=reason)

    def _rescan_now_finds_progress(self, job_id: str) -> bool:
        """Look at the shot files once more before giving up on a job (events may be lost)."""
        before = len(self._book.get(job_id).finished)
        self._recover_finished()
        return len(self._book.get(job_id).finished) > before

    def _recover_finished(self) -> None:
        for job, flat in self._book.unfinished_handed():
            experiment, shot = job.locate(flat)
            path = experiment.shot_path(shot)
            # A handed shot whose file is gone was moved to the archive, which happens only
            # after it ran: it is finished, or its job would hold the hand-over window forever.
            if is_executed(path) or not os.path.exists(path):
                self._book.mark_finished(job.job_id, experiment.name, shot)

    def _hand_over(self, h: Handover, publisher: Publisher) -> None:
        path = h.experiment.shot_path(h.shot_index)
        if not os.path.exists(path) and h.job.derived > h.job.handed:
            # Derived and handed over before a crash that came ahead of mark_handed, then run
            # and archived (moved away): deriving it again would run the shot twice.
            log.info("handover_recovered", path=path)
        else:
            if not os.path.exists(path):
                try:
                    derive_shot(h.experiment.template, path, per_shot_attrs_for(
                        h.experiment.experiment_seed, h.experiment.index, h.shot_index))
                except Exception as exc:  # a lost template or a full disk: the job cannot go on
                    log.exception("derive_failed", path=path)
                    self._fail(h, publisher, f"could not write shot {h.shot_index} of "
                                             f"{h.experiment.name}: {exc!r}", stage="spooling")
                    return
                self._book.mark_derived(h.job.job_id)
            if not self._submit(h, path, publisher):
                return
        self._book.mark_handed(h.job.job_id)
        if h.experiment.index == h.job.experiments[-1].index and h.shot_index == h.experiment.n_shots - 1:
            self._drop_templates(h)
        if h.first:
            self._publish(publisher, h.job, JobStatusChanged, status=JobStatus.RUNNING,
                          detail="shots handed to the executor", shots_done=0,
                          shots_total=h.job.planned)

    def _submit(self, h: Handover, path: str, publisher: Publisher) -> bool:
        """Hand the file to the executor, retrying while it is away; False if the job failed
        or the feeder stops."""
        delay = 0.1
        while not self._stop.is_set():
            try:
                submit_shot(path, self._settings.blacs_host, self._settings.blacs_port,
                            self._settings.blacs_timeout_s)
                return True
            except HandoverRefused as exc:
                self._fail(h, publisher, f"the executor refused shot {h.shot_index} of "
                                         f"{h.experiment.name}: {exc}")
                return False
            except Exception as exc:  # TimeoutError, connection trouble: BLACS is away
                log.warning("executor_unavailable", error=repr(exc)[:300], retry_in_s=delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
        return False

    def _drop_templates(self, h: Handover) -> None:
        for experiment in h.job.experiments:
            try:
                os.unlink(experiment.template)
            except FileNotFoundError:
                pass

    def _fail(self, h: Handover, publisher: Publisher, reason: str,
              stage: Literal["spooling", "execution"] = "execution") -> None:
        log.error("handover_refused", reason=reason[:500])
        self._book.fail(h.job.job_id)
        self._publish(publisher, h.job, JobFailed, stage=stage, reason=reason)

    def _publish(self, publisher: Publisher, job: JobRecord,
                 cls: type[JobStatusChanged] | type[JobFailed], **fields: object) -> None:
        events = JobEvents(publisher, self._producer, job.job_id, job.backend)
        while not self._stop.is_set():
            try:
                events.publish(cls, **fields)
                return
            except PublishFailed as exc:  # the broker is away; the fact must not be lost
                log.warning("publish_retry", error=str(exc)[:300])
                self._stop.wait(1.0)
