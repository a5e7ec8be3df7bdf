"""Routine files run exactly as lyse runs them, in the worker process, with failures reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from services.analysis.routine_worker import RoutineWorker
from tests.analysis.shotfiles import CIRCUITS, build_job

pytestmark = pytest.mark.labscript

LYSE_DATA = """
import json, sys
from services.analysis.lyse_host import import_lyse
lyse = import_lyse()
series = lyse.data(sys.argv[1])
print(json.dumps({"/".join(k) if isinstance(k, tuple) else k: str(v) for k, v in series.items()}))
"""


def singleshot(worker: RoutineWorker, path: Path, *routines: Path, timeout: float = 10.0):
    request = {"op": "singleshot", "path": str(path), "routines": [str(r) for r in routines]}
    return worker.request(request, timeout)


@pytest.mark.parametrize("backend", sorted(CIRCUITS))
def test_routine_writes_its_results_group_and_recovers_the_outcome(
        tmp_path, worker, analysislib, backend):
    # Given executed shots of every backend, with the sampled outcome as ground truth
    shots = build_job(tmp_path, backend, "job-r", {"experiment_0": 3})["experiment_0"]
    for shot in shots:
        # When the routine file from the analysislib runs on the shot as lyse would
        reply = singleshot(worker, shot.path, analysislib / "occupation.py")
        # Then its results land in /results/<routine stem> and the readout is exact
        assert reply.ok, reply.error
        with h5py.File(shot.path, "r") as f:
            group = f["results/occupation"]
            assert group.attrs["memory"] == shot.memory
            assert group.attrs["n_sites"] == len(shot.memory.split())
            assert group["site_counts"].shape == (len(shot.memory.split()),)


def test_lyse_data_shows_the_routine_results(tmp_path, worker, analysislib):
    shot = build_job(tmp_path, "fermions", "job-d", {"experiment_0": 1})["experiment_0"][0]
    assert singleshot(worker, shot.path, analysislib / "occupation.py").ok
    # lyse.data(path) in a process of its own: lyse must be imported before h5py is.
    out = subprocess.run([sys.executable, "-c", LYSE_DATA, str(shot.path)], check=True,
                         capture_output=True, text=True, timeout=60)
    series = json.loads(out.stdout.strip().splitlines()[-1])
    assert series["occupation/memory"] == shot.memory
    assert series["experiment_name"] == "experiment_0"


def test_a_shot_without_measurement_has_empty_memory(tmp_path, worker, analysislib):
    circuit = ([["load", [0], []]], 8)
    shot = build_job(tmp_path, "fermions", "job-n", {"experiment_0": 1}, circuit)["experiment_0"][0]
    assert singleshot(worker, shot.path, analysislib / "occupation.py").ok
    with h5py.File(shot.path, "r") as f:
        assert f["results/occupation"].attrs["memory"] == ""


def test_a_raising_routine_is_reported_with_name_exception_and_line(tmp_path, worker, routines_dir):
    shot = build_job(tmp_path, "fermions", "job-b", {"experiment_0": 1})["experiment_0"][0]
    reply = singleshot(worker, shot.path, routines_dir / "broken.py")
    assert not reply.ok
    assert reply.error.startswith("analysis routine broken raised ValueError: no atoms in 3 sites")
    assert "line 5" in reply.error and 'raise ValueError(f"no atoms' in reply.error
    # and the worker goes on with the next shot
    assert singleshot(worker, shot.path, routines_dir / "occupation.py").ok


def test_a_hanging_routine_is_stopped_and_the_next_shot_works(tmp_path, routines_dir):
    shot = build_job(tmp_path, "fermions", "job-h", {"experiment_0": 1})["experiment_0"][0]
    worker = RoutineWorker("hang-test")
    try:
        reply = singleshot(worker, shot.path, routines_dir / "hangs.py", timeout=1.0)
        assert not reply.ok and "did not finish within 1 s" in reply.error
        reply = singleshot(worker, shot.path, routines_dir / "occupation.py")
        assert reply.ok, reply.error
    finally:
        worker.stop()


def test_routines_run_in_a_fresh_main_namespace_every_time(tmp_path, worker):
    # A routine that would see leftovers of a previous run if namespaces were shared.
    routine = tmp_path / "leaky.py"
    routine.write_text("assert 'leftover' not in globals(), 'namespace reused'\n"
                       "leftover = 1\nassert __name__ == '__main__'\n"
                       f"assert __file__ == {str(routine)!r}\n")
    shot = build_job(tmp_path, "fermions", "job-l", {"experiment_0": 1})["experiment_0"][0]
    for _ in range(2):
        reply = singleshot(worker, shot.path, routine)
        assert reply.ok, reply.error
