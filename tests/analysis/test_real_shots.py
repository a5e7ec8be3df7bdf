"""The routine reads shots made by the real spooler compile and the real emulator exactly."""

from __future__ import annotations

from datetime import datetime

import h5py
import pytest

from tests.analysis.shotfiles import CIRCUITS, ground_truth

pytestmark = pytest.mark.labscript


@pytest.mark.parametrize("backend", sorted(CIRCUITS))
def test_routine_recovers_the_emulated_outcome_of_compiled_shots(tmp_path, worker, analysislib,
                                                                  simulator, backend):
    from services.emulator.execute import execute_shot
    from services.spooler.compiler import TemplateRequest, compile_template, derive_shot, per_shot_attrs
    from services.spooler.labscript_env import prepare_labscript
    from services.spooler.shot_globals import experiment_globals

    # Given a shot compiled from the backend's labscript sequence and run by the emulator
    instructions, num_wires = CIRCUITS[backend]
    g = experiment_globals("job-real", backend, "experiment_0", 0,
                           {"instructions": instructions, "num_wires": num_wires, "shots": 4}, 5)
    script = prepare_labscript().labscriptlib / f"sequence_{backend}.py"
    request = TemplateRequest(str(script), str(tmp_path / "template.h5"), "job-real",
                              "experiment_0", g, datetime.now())
    compile_template(request)
    for shot_index in range(4):
        path = tmp_path / f"{shot_index}.h5"
        derive_shot(request.template, str(path), per_shot_attrs(g, shot_index))
        execute_shot(str(path), started=0.0, simulator=simulator)
        # When the analysis routine runs on it as lyse would
        reply = worker.request({"op": "singleshot", "path": str(path),
                                "routines": [str(analysislib / "occupation.py")]}, 30)
        # Then it reads back exactly what the emulator sampled
        assert reply.ok, reply.error
        with h5py.File(path, "r") as f:
            assert f["results/occupation"].attrs["memory"] == ground_truth(path) != ""
