"""Hand-built executed shots in the layout spooler + emulator write, with the ground truth inside.

Until the emulator runs in these tests, shots are written here: runmanager's root attributes,
the spooler's ``/globals`` (``circuit_json`` & co.), the camera image of the emulator at
``/images/top/fluorescence/atoms`` rendered with ``services.common.imaging`` from an outcome the
real physics simulator sampled, and that outcome in ``/data/emulator`` attrs (``memory``).
"""

from __future__ import annotations

# Import order of the labscript suite: profile, then h5_lock, then h5py. Tests elsewhere import
# lyse or labscript in this same pytest process; an h5py imported first would break them.
import os

os.environ.setdefault("READTHEDOCS", "1")
from services.common.labscript_profile import ensure_profile  # noqa: E402

ensure_profile()
import labscript_utils.h5_lock  # noqa: E402,F401

import json  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from contracts.events import JobSpooled, ShotFinished, SpooledExperiment  # noqa: E402
from services.common.shot_storage import sha256_of  # noqa: E402
from services.common.imaging import render_fluorescence  # noqa: E402
from services.emulator.physics import simulate  # noqa: E402

#: A circuit per backend that measures several wires (in a deliberately unsorted order).
CIRCUITS: dict[str, tuple[list, int]] = {
    "fermions": ([["load", [0], []], ["load", [1], []], ["load", [4], []],
                  ["fhop", [0, 1, 2, 3], [0.785]], ["measure", [2], []], ["measure", [0], []],
                  ["measure", [1], []], ["measure", [4], []]], 8),
    "singlequdit": ([["load", [0], [40]], ["rlx", [0], [1.2]], ["measure", [0], []]], 1),
    "multiqudit": ([["load", [0], [3]], ["load", [1], [2]], ["rlx", [0], [1.0]],
                    ["rlxly", [0, 1], [1.0]], ["measure", [1], []], ["measure", [0], []]], 2),
    "rydberg": ([["rlx", [0], [1.5]], ["rlx", [1], [1.5]], ["rlx", [3], [2.0]],
                 ["rydberg_block", [0, 1, 2, 3, 4], [1.0]], ["measure", [0], []],
                 ["measure", [3], []], ["measure", [1], []]], 5),
}


@dataclass(frozen=True)
class BuiltShot:
    backend: str
    job_id: str
    experiment: str
    shot_index: int
    path: Path
    sha256: str
    size: int
    memory: str  # the ground truth


def write_shot(path: Path, *, backend: str, job_id: str, experiment: str, shot_index: int,
               n_shots: int, instructions: list, num_wires: int, memory: str,
               when: datetime | None = None) -> BuiltShot:
    when = when or datetime.now(timezone.utc)
    path.parent.mkdir(parents=True, exist_ok=True)
    script = f"sequence_{backend}"
    with h5py.File(path, "w") as f:
        f.attrs.update({
            "sequence_id": f"{when:%Y%m%dT%H%M%S}_{script}_{job_id}_{experiment}",
            "sequence_index": int(experiment.split("_")[1]), "sequence_date": f"{when:%Y-%m-%d}",
            "script_basename": script, "run number": shot_index, "n_runs": n_shots,
            "run time": f"{when:%Y%m%dT%H%M%S.%f}",
        })
        values = {
            "job_id": job_id, "backend": backend, "experiment_name": experiment,
            "experiment_index": int(experiment.split("_")[1]),
            "circuit_json": json.dumps(instructions, separators=(",", ":")),
            "num_wires": num_wires, "wire_order": "", "n_shots": n_shots,
            "experiment_seed": 7, "shot_index": shot_index, "shot_seed": 1000 + shot_index,
        }
        f.create_group("globals").attrs.update(values)
        f["globals"].create_group("shotline").attrs.update({k: repr(v) for k, v in values.items()})
        f.create_group("data/emulator").attrs["memory"] = memory
        if memory:
            levels = [int(x) for x in memory.split()]
            image = render_fluorescence(levels, np.random.default_rng(shot_index))
            group = f.require_group("images/top")
            group.attrs.update({"camera": "camera", "failed_shot": False})
            d = group.require_group("fluorescence").create_dataset(
                "atoms", data=image, dtype="uint16", compression="gzip")
            d.attrs.update({"CLASS": np.bytes_("IMAGE"), "IMAGE_VERSION": np.bytes_("1.2"),
                            "IMAGE_SUBCLASS": np.bytes_("IMAGE_GRAYSCALE"),
                            "IMAGE_WHITE_IS_ZERO": np.uint8(0)})
    sha256, size = sha256_of(path)
    return BuiltShot(backend, job_id, experiment, shot_index, path, sha256, size, memory)


def build_job(folder: Path, backend: str, job_id: str, shots: dict[str, int],
              circuit: tuple[list, int] | None = None, seed: int = 1) -> dict[str, list[BuiltShot]]:
    """Executed shots of a job: experiment name -> shots, outcomes sampled by the real physics."""
    instructions, num_wires = circuit or CIRCUITS[backend]
    out: dict[str, list[BuiltShot]] = {}
    for k, (experiment, n) in enumerate(shots.items()):
        memories = simulate(backend, instructions, n, seed + k, num_wires).memory or [""] * n
        out[experiment] = [
            write_shot(folder / job_id / experiment / f"shot_{i}.h5", backend=backend,
                       job_id=job_id, experiment=experiment, shot_index=i, n_shots=n,
                       instructions=instructions, num_wires=num_wires, memory=memories[i])
            for i in range(n)
        ]
    return out


def shot_finished(shot: BuiltShot) -> ShotFinished:
    return ShotFinished.create("test", job_id=shot.job_id, backend=shot.backend,
                               experiment=shot.experiment, shot_index=shot.shot_index,
                               path=str(shot.path), sha256=shot.sha256, size=shot.size)


def job_spooled(job: dict[str, list[BuiltShot]]) -> JobSpooled:
    first = next(iter(job.values()))[0]
    return JobSpooled.create(
        "test", job_id=first.job_id, backend=first.backend,
        experiments=[SpooledExperiment(name=name, n_shots=len(shots)) for name, shots in job.items()],
        total_shots=sum(len(s) for s in job.values()),
    )


def ground_truth(path: Path) -> str:
    with h5py.File(path, "r") as f:
        value = f["data/emulator"].attrs["memory"]
    return value.decode() if isinstance(value, bytes) else str(value)
