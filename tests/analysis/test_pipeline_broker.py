"""Analysis, archiver and results as separate processes on the real broker, on executed shots."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest

from contracts.events import JobDone, JobFailed, JobStatusChanged, ShotArchived, decode_event
from contracts.topology import EXCHANGE
from services.common.shot_storage import sha256_of
from services.common.bus import Publisher
from tests.analysis.shotfiles import CIRCUITS, build_job, ground_truth, job_spooled, shot_finished

pytestmark = [pytest.mark.rabbit, pytest.mark.labscript, pytest.mark.e2e]


@pytest.fixture
def services(amqp_url: str, tmp_path: Path) -> Iterator[Path]:
    """Two analysis processes (competing for shots; one active results consumer) and an archiver."""
    home = tmp_path / "home"
    env = {**os.environ, "SHOTLINE_AMQP_URL": amqp_url, "SHOTLINE_HOME": str(home),
           "SHOTLINE_LOG_FORMAT": "json", "READTHEDOCS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "services.cli.main", name], env=env,
                              stderr=open(tmp_path / f"{name}-{k}.log", "wb"))
             for k, name in enumerate(["analysis", "analysis", "archiver"])]
    yield home
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            assert proc.wait(timeout=20) == 0, f"{proc.args} exited with {proc.returncode}"
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


class Capture:
    """Every event published on the vhost, through a private server-named queue."""

    def __init__(self, amqp_url: str, patterns: tuple[str, ...] = ("#",)) -> None:
        self._connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self._channel = self._connection.channel()
        self._queue = self._channel.queue_declare("", exclusive=True).method.queue
        for pattern in patterns:
            self._channel.queue_bind(self._queue, EXCHANGE, pattern)

    def until(self, done, timeout: float) -> list:
        events: list = []
        deadline = time.monotonic() + timeout
        for method, props, body in self._channel.consume(self._queue, auto_ack=True,
                                                         inactivity_timeout=1.0):
            if method is not None:
                events.append(decode_event(props.type, body))
                if done(events):
                    return events
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; got {[type(e).__name__ for e in events]}")
        return events

    def close(self) -> None:
        self._connection.close()


def test_every_backend_job_comes_back_done_with_the_ground_truth(amqp_url, tmp_path, services):
    # Given one executed job per backend (2 experiments x 3 shots), announced as the spooler
    # and shotwatch would
    # (where the spooler puts them: the services touch no file outside the shot folders)
    jobs = {backend: build_job(services / "shots" / backend, backend, f"job-{backend}",
                               {"experiment_0": 3, "experiment_1": 3}) for backend in CIRCUITS}
    truth = {(s.job_id, s.experiment, s.shot_index): s.memory
             for job in jobs.values() for shots in job.values() for s in shots}
    capture = Capture(amqp_url)
    publisher = Publisher(amqp_url, "test")
    try:
        for job in jobs.values():
            publisher.publish(job_spooled(job))
            for shots in job.values():
                for shot in shots:
                    publisher.publish(shot_finished(shot))
        # When the pipeline runs
        events = capture.until(lambda evs: len([e for e in evs if isinstance(e, (JobDone, JobFailed))])
                               == len(jobs), timeout=90)
    finally:
        publisher.close()
        capture.close()
    # Then every job is DONE with memory equal to the emulator's ground truth
    assert not [e.reason for e in events if isinstance(e, JobFailed)]
    done = {e.job_id: e.result for e in events if isinstance(e, JobDone)}
    assert set(done) == {f"job-{b}" for b in CIRCUITS}
    for job_id, result in done.items():
        assert [r["header"]["name"] for r in result["results"]] == ["experiment_0", "experiment_1"]
        for entry in result["results"]:
            expected = [truth[(job_id, entry["header"]["name"], i)] for i in range(3)]
            assert entry["data"]["memory"] == expected
    # and every shot is archived once, its checksum verified, its truth intact, originals gone
    archived = [e for e in events if isinstance(e, ShotArchived)]
    assert len({(e.job_id, e.experiment, e.shot_index) for e in archived}) == len(truth)
    for event in archived:
        path = Path(event.path)
        assert path.is_relative_to(services / "sds" / event.backend)
        assert sha256_of(path) == (event.sha256, event.size)
        assert ground_truth(path) == event.memory
    assert not list((tmp_path / "spool").rglob("*.h5"))
    # and the user saw progress up to "6 of 6 shots done" for every job
    finals = {e.job_id: e.detail for e in events if isinstance(e, JobStatusChanged)}
    assert set(finals.values()) == {"6 of 6 shots done"} and len(finals) == len(jobs)
    # and one CSV per experiment next to its shots
    csvs = sorted(p.name for p in (services / "sds").rglob("*.csv"))
    assert csvs == sorted(["experiment_0.csv", "experiment_1.csv"] * len(jobs))
