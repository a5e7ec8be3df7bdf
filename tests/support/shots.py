"""Compiled shot files made the way the spooler makes them: one template, one file per shot."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from services.spooler.compiler import TemplateRequest, compile_template, derive_shot, per_shot_attrs
from services.spooler.labscript_env import prepare_labscript
from services.spooler.shot_globals import experiment_globals


def compiled_shots(folder: Path, job_id: str, instructions: list[Any], n: int, seed: int,
                   backend: str = "fermions", num_wires: int = 8) -> list[str]:
    """``n`` shots (fermions unless told) of experiment_0 of ``job_id`` in ``folder`` (compiled,
    not run)."""
    g = experiment_globals(job_id, backend, "experiment_0", 0,
                           {"instructions": instructions, "num_wires": num_wires, "shots": n}, seed)
    script = prepare_labscript().labscriptlib / f"sequence_{backend}.py"
    req = TemplateRequest(str(script), str(folder / "template.h5"), job_id,
                          "experiment_0", g, datetime.now())
    compile_template(req)
    paths = [str(folder / f"{k:04d}.h5") for k in range(n)]
    for k, path in enumerate(paths):
        derive_shot(req.template, path, per_shot_attrs(g, k))
    return paths
