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

pytestmark = pytest.mark.labscript

#: Announces its worker's pid through a FIFO (the test's signal), then waits to be killed;
#: once the test has killed a worker it runs the real routine.
KILLED_FROM_OUTSIDE = """
import os, threading
from pathlib import Path
here = Path({folder!r})
if not (here / "killed-once").exists():
    with open(here / "started", "w") as fifo:
        fifo.write(str(os.getpid()))
    threading.Event().wait()
exec(compile(Path({routine!r}).read_text(), {routine!r}, "exec"))
"""


def restarts(worker: str) -> float:
    return REGISTRY.get_sample_value("shotline_worker_restarts_total", {"worker": worker}) or 0.0


def singleshot(worker: RoutineWorker, path: Path, routine: Path, **kwargs):
    request = {"op": "singleshot", "path": str(path), "routines": [str(routine)]}
    return worker.request(request, kwargs.pop("timeout", 30.0), **kwargs)


def test_a_worker_killed_from_outside_is_restarted_and_the_request_succeeds(tmp_path, routines_dir):
    shot = build_job(tmp_path, "fermions", "job-w", {"experiment_0": 1})["experiment_0"][0]
    os.mkfifo(tmp_path / "started")
    routine = tmp_path / "waits_to_be_killed.py"
    routine.write_text(KILLED_FROM_OUTSIDE.format(folder=str(tmp_path),
                                                  routine=str(routines_dir / "occupation.py")))
    worker, restored = RoutineWorker("killed-test"), threading.Event()
    before = restarts("routine-killed-test")
    replies = []
    thread = threading.Thread(target=lambda: replies.append(
        singleshot(worker, shot.path, routine, before_retry=restored.set)))
    try:
        # Given a request whose routine is running in the worker
        thread.start()
        with open(tmp_path / "started") as fifo:  # blocks until the routine announces itself
            pid = int(fifo.read())
        # When the worker process is SIGKILLed from outside (the OOM killer, an operator)
        (tmp_path / "killed-once").touch()
        os.kill(pid, signal.SIGKILL)
        thread.join(60)
        # Then the request ran again in a fresh worker, after its inputs were restored
        (reply,) = replies
        assert reply.ok, reply.error
        assert restored.is_set() and restarts("routine-killed-test") == before + 1
    finally:
        worker.stop()


def test_a_routine_that_kills_its_worker_every_time_fails_naming_that_not_a_timeout(tmp_path):
    shot = build_job(tmp_path, "fermions", "job-s", {"experiment_0": 1})["experiment_0"][0]
    routine = tmp_path / "suicide.py"
    routine.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    worker = RoutineWorker("suicide-test")
    before = restarts("routine-suicide-test")
    try:
        reply = singleshot(worker, shot.path, routine)
        assert not reply.ok
        assert reply.error == "killed its worker process on 3 tries (last: SIGKILL)"
        assert restarts("routine-suicide-test") == before + 2
        # And the worker serves the next request as usual
        assert singleshot(worker, shot.path, tmp_path / "suicide.py").error.startswith("killed")
    finally:
        worker.stop()


def test_a_routine_that_exits_reports_its_exit_code(tmp_path):
    shot = build_job(tmp_path, "fermions", "job-x", {"experiment_0": 1})["experiment_0"][0]
    routine = tmp_path / "exits.py"
    routine.write_text("import os\nos._exit(3)\n")
    worker = RoutineWorker("exit-test")
    try:
        reply = singleshot(worker, shot.path, routine)
        assert reply.error == "killed its worker process on 3 tries (last: exit code 3)"
    finally:
        worker.stop()
