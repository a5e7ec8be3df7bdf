"""Circuit -> globals -> compiled template -> derived shot files, against labscript and runmanager."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import h5py
import labscript.labscript as ls_module
import pytest
import runmanager

from services.spooler.compiler import TemplateRequest, compile_shot, compile_template, derive_shot, per_shot_attrs
from services.spooler.labscript_env import prepare_labscript
from services.spooler.shot_globals import (
    GROUP, PER_SHOT_GLOBALS, SEQUENCE_GLOBAL_NAMES, GlobalNameError, check_global_names,
    experiment_globals, reserved_names, shot_seed,
)
from services.spooler.worker import CompileError, CompileWorker
from tests.support.killable import killed_once, pid_once_started

pytestmark = pytest.mark.labscript

CIRCUITS = {
    "fermions": [["load", [0], []], ["fhop", [0, 1, 2, 3], [0.5]], ["fint", list(range(8)), [1.0]],
                 ["fphase", [0, 1], [0.2]], ["barrier", [], []], ["measure", [0], []], ["measure", [1], []]],
    "singlequdit": [["load", [0], [50]], ["rlx", [0], [3.14]], ["sq_full", [0], [1.0, 2.0, 30.0]],
                    ["measure", [0], []]],
    "multiqudit": [["load", [0], [5]], ["load", [1], [5]], ["rlxly", [0, 1], [1.0]],
                   ["multiqudit_full", [0, 1], [1, 2, 3, 4, 5.0]], ["measure", [0], []], ["measure", [1], []]],
    "rydberg": [["rlx", [0], [1.0]], ["rydberg_block", [0, 1, 2, 3, 4], [0.5]],
                ["rydberg_full", [0, 1, 2, 3, 4], [1.0, 0.0, 0.5]], ["measure", [0], []]],
}
RESERVED = reserved_names(vars(ls_module))


def globals_for(backend: str, shots: int = 3, seed: int | None = None):
    experiment = {"instructions": CIRCUITS[backend], "num_wires": 5, "shots": shots}
    if seed is not None:
        experiment["seed"] = seed
    return experiment_globals("job-1", backend, "experiment_2", 2, experiment, entropy=99)


def request(tmp_path, backend: str, g) -> TemplateRequest:
    script = prepare_labscript().labscriptlib / f"sequence_{backend}.py"
    return TemplateRequest(str(script), str(tmp_path / "template.h5"), "job-1", "experiment_2", g,
                           datetime(2026, 11, 27, 12, 0, 0))


def flatten(path) -> dict[tuple[str, str], str]:
    """Every attribute and dataset value of a file, by (object path, key)."""
    out: dict[tuple[str, str], str] = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            for key, value in obj.attrs.items():
                out[("/" + name, "@" + key)] = repr(value)
            if isinstance(obj, h5py.Dataset):
                out[("/" + name, "data")] = repr(obj[()])
        visit("", f)
        f.visititems(visit)
    return out


def test_globals_are_reprs_runmanager_evaluates_back():
    g = globals_for("fermions", shots=4)
    raw = g.sequence_globals[GROUP]
    assert raw["circuit_json"][0] == repr(g.values["circuit_json"])
    assert raw["shot_index"] == ("arange(4)", "", "outer")
    evaluated, _, _ = runmanager.evaluate_globals(g.sequence_globals, raise_exceptions=True)
    shots = runmanager.expand_globals(g.sequence_globals, evaluated)
    assert [s["shot_index"] for s in shots] == [0, 1, 2, 3]
    for name, value in g.values.items():
        assert shots[0][name] == value


def test_hostile_text_stays_a_string():
    g = experiment_globals("job-1", "fermions", "experiment_0", 0, {
        "instructions": [["__import__('os').system('x')", [0], []]], "num_wires": 1, "shots": 1}, 1)
    evaluated, _, _ = runmanager.evaluate_globals(g.sequence_globals, raise_exceptions=True)
    assert "__import__" in evaluated[GROUP]["circuit_json"]


def test_global_names_do_not_clash_with_labscript():
    check_global_names(set(SEQUENCE_GLOBAL_NAMES) | set(PER_SHOT_GLOBALS), RESERVED)
    for clash in ("angle", "time", "power", "detuning", "print", "lambda", "not-a-name"):
        with pytest.raises(GlobalNameError):
            check_global_names([clash], RESERVED)


def test_seeds_are_deterministic_per_shot_and_fresh_without_a_job_seed():
    seeded = globals_for("fermions", seed=7)
    assert seeded.experiment_seed == 7
    assert seeded.shot_globals(1)["shot_seed"] == shot_seed(7, 2, 1) != shot_seed(7, 2, 2)
    assert shot_seed(7, 2, 1) != shot_seed(7, 3, 1)
    assert globals_for("fermions").experiment_seed == 99  # the job's drawn entropy


@pytest.mark.parametrize("backend", sorted(CIRCUITS))
def test_derived_shot_equals_a_fresh_compile_except_per_shot_attributes(tmp_path, backend):
    g = globals_for(backend, shots=3)
    req = request(tmp_path, backend, g)
    compile_template(req)
    derive_shot(req.template, str(tmp_path / "derived.h5"), per_shot_attrs(g, 2))
    compile_shot(req, str(tmp_path / "fresh.h5"), 2)
    assert flatten(tmp_path / "derived.h5") == flatten(tmp_path / "fresh.h5")
    template, fresh = flatten(req.template), flatten(tmp_path / "fresh.h5")
    differing = {key for key in template.keys() | fresh.keys() if template.get(key) != fresh.get(key)}
    assert differing == {("/", "@run number"), ("/globals", "@shot_index"), ("/globals", "@shot_seed")}
    with h5py.File(tmp_path / "fresh.h5", "r") as f:
        assert "EXPOSURES" in f["devices/camera"]  # the measurement triggers the camera


def test_compile_error_comes_back_readable_from_the_worker(tmp_path):
    g = experiment_globals("job-1", "rydberg", "experiment_0", 0, {
        "instructions": [["rlx", [0], [1.0]], ["fhop", [0, 1, 2, 3], [0.5]]], "num_wires": 5,
        "shots": 1}, 1)
    worker = CompileWorker({"READTHEDOCS": "1"})
    try:
        with pytest.raises(CompileError, match=r"instruction 1 \('fhop'\) is not supported by the rydberg"):
            worker.call("compile_template", request(tmp_path, "rydberg", g))
        worker.call("compile_template", request(tmp_path, "rydberg", globals_for("rydberg")))
    finally:
        worker.close()
    assert (tmp_path / "template.h5").exists()



def test_a_compile_worker_killed_mid_compile_is_restarted_and_the_compile_succeeds(tmp_path):
    import os
    import dataclasses
    import signal
    import threading

    from prometheus_client import REGISTRY

    real = request(tmp_path, "fermions", globals_for("fermions"))
    # Beside the real script: labscript imports the apparatus module from the script's folder.
    script = Path(real.script).with_name(f"sequence_killed_{os.getpid()}_{id(tmp_path)}.py")
    script.write_text(killed_once(tmp_path, real.script))
    restarts = lambda: REGISTRY.get_sample_value(  # noqa: E731
        "shotline_worker_restarts_total", {"worker": "compile"}) or 0.0
    before, worker, outcome = restarts(), CompileWorker({"READTHEDOCS": "1"}), []
    thread = threading.Thread(target=lambda: outcome.append(
        worker.call("compile_template", dataclasses.replace(real, script=str(script)))))
    try:
        # Given a compile under way in the worker
        thread.start()
        pid = pid_once_started(tmp_path)
        # When the worker is SIGKILLed from outside
        os.kill(pid, signal.SIGKILL)
        thread.join(120)
        # Then the compile ran again in a fresh worker and produced the template
        assert len(outcome) == 1 and restarts() == before + 1
        assert (tmp_path / "template.h5").exists()
    finally:
        worker.close()
        script.unlink()
