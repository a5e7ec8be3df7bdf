"""A routine worker that dies mid-request is restarted and the request retried; only a routine
that kills its worker on every try is blamed, and a death is never reported as a timeout."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from services.analysis.routine_worker import RoutineWorker
from tests.analysis.shotfiles import build_job
from tests.support.killable import killed_once, pid_once_started

pytestmark = pytest.mark.labscript

def restarts(worker: str) -> float:
    return REGISTRY.get_sample_value("shotline_worker_restarts_total", {"worker": worker}) or 0.0


def singleshot(worker: RoutineWorker, path: Path, routine: Path, **kwargs):
    request = {"op": "singleshot", "path": str(path), "routines": [str(routine)]}
    return worker.request(request, kwargs.pop("timeout", 30.0), **kwargs)


def test_a_worker_killed_from_outside_is_restarted_and_the_request_succeeds(tmp_path, routines_dir):
    shot = build_job(tmp_path, "fermions", "job-w", {"experiment_0": 1})["experiment_0"][0]
    routine = tmp_path / "waits_to_be_killed.py"
    routine.write_text(killed_once(tmp_path, routines_dir / "occupation.py"))
    worker, restored = RoutineWorker("killed-test"), threading.Event()
    before = restarts("routine-killed-test")
    replies = []
    thread = threading.Thread(target=lambda: replies.append(
        singleshot(worker, shot.path, routine, before_retry=restored.set)))
    try:
        # Given a request whose routine is running in the worker
        thread.start()
        pid = pid_once_started(tmp_path)
        # When the worker process is SIGKILLed from outside (the OOM killer, an operator)
        os.kill(pid, signal.SIGKILL)
        thread.join(60)
        # Then the request ran again in a fresh worker, after its inputs were restored
        (reply,) = replies
        assert reply.ok, reply.error
        assert restored.is_set() and restarts("routine-killed-test") == before + 1
    finally:
        worker.stop()


@pytest.mark.parametrize("death, how", [
    ("os.kill(os.getpid(), signal.SIGKILL)", "SIGKILL"), ("os._exit(3)", "exit code 3")])
def test_a_routine_that_kills_its_worker_every_time_fails_naming_that_not_a_timeout(
        tmp_path, death, how):
    shot = build_job(tmp_path, "fermions", "job-s", {"experiment_0": 1})["experiment_0"][0]
    routine = tmp_path / "dies.py"
    routine.write_text(f"import os, signal\n{death}\n")
    worker = RoutineWorker(f"dies-test-{how}")
    before = restarts(f"routine-dies-test-{how}")
    try:
        reply = singleshot(worker, shot.path, routine)
        assert not reply.ok
        assert reply.error == f"killed its worker process on 3 tries (last: {how})"
        assert restarts(f"routine-dies-test-{how}") == before + 2
        # And the worker serves the next request as usual
        assert singleshot(worker, shot.path, routine).error == reply.error
    finally:
        worker.stop()


def test_a_request_to_a_worker_that_died_meanwhile_is_retried_not_raised(tmp_path, routines_dir):
    # Given a worker whose end of the request pipe is gone, though the process still looks
    # alive (it is dying between the liveness check and the write)
    shot = build_job(tmp_path, "fermions", "job-p", {"experiment_0": 1})["experiment_0"][0]
    worker = RoutineWorker("dead-pipe-test")
    try:
        worker.start()
        read_end, write_end = os.pipe()
        os.close(read_end)
        worker._proc.stdin = os.fdopen(write_end, "wb")
        # When a request is sent to it (buffered, then refused with EPIPE when flushed)
        reply = singleshot(worker, shot.path, routines_dir / "occupation.py")
        # Then it ran in a fresh worker: a dead pipe is a dead worker, never the shot's error
        assert reply.ok, reply.error
    finally:
        worker.stop()
