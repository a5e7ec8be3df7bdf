"""Running one shot as BLACS and its devices would: physics from ``/globals``, data into the file.

Writes root ``run time``, ``/data``, and for every camera exposure in the shot an image at
``/images/<orientation>/<name>/<frametype>`` with the HDF5 image attributes, exactly where the
IMAQdx camera worker puts it. The ground truth goes to ``/data/emulator`` (BLACS has no such
group; analysis may use it for checks, never for results).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np

from services.common.imaging import render_fluorescence
from services.common.shot_storage import RUN_TIME_ATTR, replacing
from services.emulator.physics import SimulationError
from services.emulator.simulation import Simulator


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _register_size(circuit_json: str, num_wires: int) -> int | None:
    """The job's num_wires when it covers every wire used (PennyLane always sends 1)."""
    used = [w for _, wires, _ in json.loads(circuit_json) for w in wires]
    return num_wires if not used or max(used) < num_wires else None


def sample_memory(simulator: Simulator, backend: str, circuit_json: str, num_wires: int,
                  seed: int) -> str:
    """One shot's memory string ("1 0 1"), drawn with the shot's own seed; "" if unmeasured."""
    labels, cdf = simulator.table(backend, circuit_json, _register_size(circuit_json, num_wires))
    if not labels:
        return ""
    pick = int(np.searchsorted(cdf, np.random.default_rng(seed).random(), side="right"))
    return labels[min(pick, len(labels) - 1)]


def _cameras(f: "h5py.File") -> list[tuple[str, str, np.ndarray]]:  # noqa: F821
    """(device, image path, EXPOSURES) for every camera with exposures in the shot."""
    import labscript_utils.properties as properties

    found = []
    for device, group in f["devices"].items():
        if "EXPOSURES" in group:
            props = properties.get(f, device, "connection_table_properties")
            orientation = props.get("orientation") or device
            found.append((device, f"images/{orientation}", group["EXPOSURES"][()]))
    return found


def execute_shot(path: str, started: float, simulator: Simulator,
                 now: Callable[[], datetime] = datetime.now) -> str:
    """Write the results of the shot at ``path`` (which began at ``started``); returns its memory.

    The results are written into a copy that then replaces the shot in one rename: killed
    half-way, the emulator leaves the shot as it was (and runs it again from its queue), never a
    half-written file that shotwatch would refuse and the job would wait on forever.
    """
    shot = Path(path)
    # A fixed working name: the rerun of a killed attempt overwrites its leftover.
    with replacing(shot, work=shot.with_name(f".{shot.name}.running")) as work:
        shutil.copyfile(shot, work)
        memory = _write_results(str(work), started, simulator, now)
    return memory


def _write_results(path: str, started: float, simulator: Simulator,
                   now: Callable[[], datetime]) -> str:
    import h5py

    with h5py.File(path, "r+") as f:
        g = f["globals"].attrs
        backend, circuit = _text(g["backend"]), _text(g["circuit_json"])
        seed = int(g["shot_seed"])
        error = ""
        try:
            memory = sample_memory(simulator, backend, circuit, int(g["num_wires"]), seed)
        except SimulationError as exc:
            memory, error = "", str(exc)
        f.attrs[RUN_TIME_ATTR] = now().strftime("%Y%m%dT%H%M%S.%f")
        data = f.require_group("data")
        truth = data.require_group("emulator")
        levels = [int(v) for v in memory.split()]
        rng = np.random.default_rng(seed)
        for device, image_path, exposures in _cameras(f):
            images = f.require_group(image_path)
            images.attrs["camera"] = device
            images.attrs["failed_shot"] = not levels
            if not levels:
                continue
            for exposure in exposures:
                group = images.require_group(_text(exposure["name"]))
                dset = group.create_dataset(_text(exposure["frametype"]), dtype="uint16",
                                            data=render_fluorescence(levels, rng), compression="gzip")
                dset.attrs["CLASS"] = np.bytes_("IMAGE")
                dset.attrs["IMAGE_VERSION"] = np.bytes_("1.2")
                dset.attrs["IMAGE_SUBCLASS"] = np.bytes_("IMAGE_GRAYSCALE")
                dset.attrs["IMAGE_WHITE_IS_ZERO"] = np.uint8(0)
        truth.attrs["memory"] = memory
        truth.attrs["error"] = error
        truth.attrs["started"] = started
        truth.attrs["finished"] = time.time()
    return memory
