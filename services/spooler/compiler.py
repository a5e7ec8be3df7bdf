"""Compiling in-process (runmanager run file + labscript) and deriving shot files from a template.

Runs inside the compile worker process (services/spooler/worker.py): labscript's compiler is a
process-wide singleton that injects globals into builtins, so one compile at a time per process.
``derive_shot`` needs only h5py and also runs in the service process.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from services.common.shot_storage import replacing
from services.spooler.shot_globals import (
    ExperimentGlobals, check_global_names, reserved_names, sequence_attrs, shot_seed,
)


@dataclass(frozen=True)
class TemplateRequest:
    """Compile one experiment's template shot (shot 0) from its globals."""

    script: str
    template: str
    job_id: str
    experiment: str
    globals: ExperimentGlobals
    created: datetime


def compile_run_file(script: str, run_file: str) -> None:
    """What runmanager's batch_compiler does, without its child: errors raise here."""
    import labscript

    labscript.labscript_init(run_file, labscript_file=script)
    cwd = os.getcwd()
    try:
        os.chdir(os.path.dirname(script))
        with open(script) as f:
            code = compile(f.read(), script, "exec", dont_inherit=True)
        exec(code, {"__name__": "__main__", "__file__": script})
    finally:
        os.chdir(cwd)
        labscript.labscript_cleanup()


def write_run_file(request: TemplateRequest, path: str, shot_index: int) -> None:
    """A fresh runmanager run file for one shot (no compile output yet)."""
    import labscript.labscript as ls_module
    import runmanager

    g = request.globals
    shot = g.shot_globals(shot_index)
    check_global_names(shot, reserved_names(vars(ls_module)))
    attrs = sequence_attrs(Path(request.script).stem, request.job_id, request.experiment,
                           g.experiment_index, request.created)
    runmanager.make_single_run_file(path, g.sequence_globals, shot, attrs, shot_index, g.n_shots)


def _work_file(folder: str, doing: str, path: str) -> str:
    """A hidden working file named after its target, not a random one: a SIGKILL skips the
    clean-up, and the retry (the same shot, as only one spooler is active) then reuses the name
    instead of leaving a stray file in the spool for good."""
    return os.path.join(folder, f".{doing}.{os.path.basename(path)}")


def compile_shot(request: TemplateRequest, path: str, shot_index: int) -> None:
    """Write and compile shot ``shot_index`` at ``path`` (atomically: a failure leaves nothing)."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = _work_file(folder, "compiling", path)
    if os.path.exists(tmp):
        os.unlink(tmp)  # make_single_run_file creates it; labscript needs a fresh file
    try:
        write_run_file(request, tmp, shot_index)
        compile_run_file(request.script, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def compile_template(request: TemplateRequest) -> None:
    compile_shot(request, request.template, 0)


def per_shot_attrs_for(experiment_seed: int, experiment_index: int,
                       shot_index: int) -> dict[str, dict[str, Any]]:
    """Exactly what differs between two shots of one experiment: {hdf5 group: {attr: value}}."""
    return {"/": {"run number": shot_index},
            "/globals": {"shot_index": shot_index,
                         "shot_seed": shot_seed(experiment_seed, experiment_index, shot_index)}}


def per_shot_attrs(g: ExperimentGlobals, shot_index: int) -> dict[str, dict[str, Any]]:
    return per_shot_attrs_for(g.experiment_seed, g.experiment_index, shot_index)


def derive_shot(template: str, path: str, attrs: dict[str, dict[str, Any]]) -> None:
    """Copy the compiled template to ``path`` and set the shot's own attributes (atomic)."""
    import h5py

    # Durable before the book records it derived: the book then never names a shot that a
    # power cut took away, which a restart would take for handed over and archived.
    with replacing(path, work=_work_file(os.path.dirname(path), "deriving", path)) as tmp:
        shutil.copyfile(template, tmp)  # replaces what a killed attempt left
        with h5py.File(tmp, "r+") as f:
            for group, values in attrs.items():
                for name, value in values.items():
                    f[group].attrs[name] = value
