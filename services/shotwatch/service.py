"""Shotwatch: stands where lyse would, turning each executed shot into a confirmed ShotFinished."""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from contracts.events import ShotFinished
from services.common.bus import JobEvents, Publisher, PublishFailed
from services.common.service import Part, Service
from services.common.shot_storage import spooled_shot_files
from services.shotwatch.announced import AnnouncedShots
from services.shotwatch.settings import ShotwatchSettings
from services.shotwatch.shots import NotAShot, inspect_shot

log = structlog.get_logger(__name__)


def announce(path: str, shots_root: Path, announced: AnnouncedShots, publisher: Publisher) -> None:
    """Publish ShotFinished (confirmed) for an executed shot, then record it.

    Raises:
        NotAShot: the file is no executed shot of a shotline job.
        PublishFailed: the broker did not confirm; the caller must not report success.
    """
    shot = inspect_shot(path, shots_root)
    job = JobEvents(publisher, Shotwatch.name, shot.job_id, shot.backend)
    job.publish(ShotFinished, experiment=shot.experiment, shot_index=shot.shot_index,
                path=shot.path, sha256=shot.sha256, size=shot.size)
    if shot.error:
        job.fail("execution", f"{shot.experiment} shot {shot.shot_index}: {shot.error}")
    announced.add(shot.path, shot.sha256)
    log.info("shot_finished", job_id=shot.job_id, experiment=shot.experiment, shot=shot.shot_index)


def rescan(shots_root: Path, announced: AnnouncedShots, publisher: Publisher) -> int:
    """Announce executed shots that never were (shotwatch was down when they finished)."""
    done = announced.paths()
    count = 0
    for path in spooled_shot_files(shots_root):
        if path in done:
            continue
        try:
            announce(path, shots_root, announced, publisher)
            count += 1
        except NotAShot:
            continue  # not run yet, or not ours
    return count


class Shotwatch(Service[ShotwatchSettings], name="shotwatch", settings=ShotwatchSettings):
    """Stands where lyse would: serves its analysis-submission port."""

    def __init__(self, settings: ShotwatchSettings) -> None:
        from services.common.labscript_env import prepare_labscript

        super().__init__(settings)
        prepare_labscript(zlock=settings.zlock)
        self.shots_root = settings.shots_dir
        self.announced = AnnouncedShots(settings.home / "shotwatch" / "announced.log")
        self._local = threading.local()
        self._stop = threading.Event()
        self.ready = threading.Event()

    def parts(self) -> list[Part]:
        return [self]

    def _publisher(self) -> Publisher:
        # zprocess calls the handler from its one server thread; pika wants a publisher per thread.
        publisher = getattr(self._local, "publisher", None)
        if publisher is None:
            publisher = self._local.publisher = Publisher(
                self.settings.amqp_url.get_secret_value(), "shotwatch.publisher")
        return publisher

    def handle(self, request: object) -> str:
        from labscript_utils.shared_drive import path_to_local

        if request == "hello":
            return "hello"
        if isinstance(request, dict) and "filepath" in request:
            path = request["filepath"]
            path = path_to_local(path.decode() if isinstance(path, bytes) else str(path))
            try:
                announce(path, self.shots_root, self.announced, self._publisher())
            except NotAShot as exc:
                log.warning("not_a_shot", reason=str(exc)[:500])
                return f"error: {exc}"
            # PublishFailed propagates: the submitter gets no success and keeps the shot.
            return "added successfully"
        return ("error: operation not supported. Recognised requests are:\n 'hello'\n "
                "{'filepath': <some_h5_filepath>}")

    def run(self) -> None:
        from labscript_utils.ls_zprocess import ZMQServer

        handle = self.handle

        class LyseServer(ZMQServer):
            def handler(self, request: object) -> str:
                return handle(request)

        self.shots_root.mkdir(parents=True, exist_ok=True)
        found = self._rescan_when_broker_up()
        if found is None:
            return  # stopped while waiting for the broker
        server = LyseServer(self.settings.lyse_port, bind_address=self.settings.bind_address)
        log.info("serving", port=self.settings.lyse_port, rescanned=found)
        self.ready.set()
        self._stop.wait()
        server.shutdown()

    def _rescan_when_broker_up(self) -> int | None:
        """The start-up rescan, retried until the broker confirms; None if stopped first.
        Like every other service, shotwatch waits for a broker that is down at start."""
        delay = 0.2
        while not self._stop.is_set():
            publisher = Publisher(self.settings.amqp_url.get_secret_value(), "shotwatch.rescan")
            try:
                return rescan(self.shots_root, self.announced, publisher)
            except PublishFailed as exc:
                log.warning("broker_unavailable", error=str(exc)[:300], retry_in_s=delay)
            finally:
                publisher.close()
            self._stop.wait(delay)
            delay = min(delay * 2, 5.0)
        return None

    def stop(self) -> None:
        self._stop.set()


SERVICE = Shotwatch
