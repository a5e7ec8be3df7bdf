"""Seeded random circuits per backend, shared by the compat tests and tests/bench/bench_physics."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
REFERENCE_SCRIPT = REPO / "tests" / "compat" / "reference_distributions.py"
TWO_PI = 2 * math.pi

Circuit = dict  # {"instructions": [[name, wires, params], ...], "num_wires": int}


def _measures(rng: np.random.Generator, num_wires: int) -> list[list]:
    """Measure all wires, or a random subset in random order (the order shapes the strings)."""
    if rng.random() < 0.4:
        wires = list(range(num_wires))
    else:
        wires = list(rng.permutation(num_wires)[: rng.integers(1, num_wires + 1)])
    return [["measure", [int(w)], []] for w in wires]


def fermion_circuits(count: int, seed: int = 20240611) -> list[Circuit]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        loads = sorted(int(w) for w in rng.permutation(8)[: rng.integers(1, 6)])
        ins: list[list] = [["load", [w], []] for w in loads]
        for _ in range(rng.integers(3, 9)):
            kind = rng.choice(["fhop", "fhop", "fint", "fphase", "barrier"])
            if kind == "fhop":
                t = int(rng.integers(0, 3))
                pair = [2 * t, 2 * t + 1, 2 * t + 2, 2 * t + 3]
                wires = list(range(8)) if rng.random() < 0.2 else pair
                ins.append(["fhop", wires, [float(rng.uniform(0, math.pi))]])
            elif kind == "fint":
                ins.append(["fint", list(range(8)), [float(rng.uniform(0, TWO_PI))]])
            elif kind == "fphase":
                t = int(rng.integers(0, 4))
                wires = list(range(8)) if rng.random() < 0.3 else [2 * t, 2 * t + 1]
                ins.append(["fphase", wires, [float(rng.uniform(0, TWO_PI))]])
            else:
                ins.append(["barrier", list(range(8)), []])
        ins += _measures(rng, 8)
        out.append({"instructions": ins, "num_wires": 8})
    return out


def singlequdit_circuits(count: int, seed: int = 20240612) -> list[Circuit]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        # qiskit's dense expm costs ~N^3 per gate (seconds at N = 500), so two circuits go there.
        n_atoms = int(rng.integers(400, 501)) if k % 15 == 0 else int(rng.integers(1, 121))
        ins: list[list] = [["load", [0], [n_atoms]]]
        for _ in range(rng.integers(2, 7)):
            kind = rng.choice(["rlx", "rlz", "rlz2", "sq_full"])
            if kind == "sq_full":
                params = [float(rng.uniform(0, TWO_PI)), float(rng.uniform(0, TWO_PI)),
                          float(rng.uniform(0, 0.05))]
            elif kind == "rlz2":
                params = [float(rng.uniform(0, 0.5))]
            else:
                params = [float(rng.uniform(0, TWO_PI))]
            ins.append([str(kind), [0], params])
        ins.append(["measure", [0], []])
        out.append({"instructions": ins, "num_wires": 1})
    return out


# (wires, atoms per wire) with a uniform spin so that qiskit's SpinSimulator can run them.
# Shapes such as (3, 5) are left out: SpinCircuitSolver.draw_shots recovers the wire count with
# math.log(dim, base), which is not an exact integer for 6**3 or 3**5 and then raises.
_MULTI_SHAPES = [(2, 1), (2, 4), (2, 9), (2, 15), (3, 1), (3, 2), (3, 3), (3, 6), (4, 1), (4, 2),
                 (4, 3), (5, 1)]


def multiqudit_circuits(count: int, seed: int = 20240613) -> list[Circuit]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        num_wires, n_atoms = _MULTI_SHAPES[k % len(_MULTI_SHAPES)]
        # One atom per wire is also what an unloaded wire holds, so loads may then be omitted.
        load = n_atoms > 1 or rng.random() < 0.5
        ins: list[list] = [["load", [w], [n_atoms]] for w in range(num_wires)] if load else []
        for _ in range(rng.integers(3, 8)):
            kind = str(rng.choice(["rlx", "rlz", "rlz2", "rlxly", "rlzlz", "multiqudit_full"]))
            first = int(rng.integers(0, num_wires - 1))
            length = int(rng.integers(2, num_wires - first + 1))
            run = list(range(first, first + length))
            if kind in ("rlx", "rlz", "rlz2"):
                wire = int(rng.integers(0, num_wires))
                ins.append([kind, [wire], [float(rng.uniform(0, TWO_PI))]])
            elif kind in ("rlxly", "rlzlz"):
                ins.append([kind, run, [float(rng.uniform(0, math.pi))]])
            else:
                params = [float(v) for v in rng.uniform(0, 1.5, size=5)]
                ins.append([kind, run, params])
        ins += _measures(rng, num_wires)
        out.append({"instructions": ins, "num_wires": num_wires})
    return out


def rydberg_circuits(count: int, seed: int = 20240614) -> list[Circuit]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        ins: list[list] = []
        for _ in range(rng.integers(3, 9)):
            kind = str(rng.choice(["rlx", "rlx", "rlz", "rydberg_block", "rydberg_blockade",
                                   "rydberg_full"]))
            if kind in ("rlx", "rlz"):
                ins.append([kind, [int(rng.integers(0, 5))], [float(rng.uniform(0, TWO_PI))]])
            elif kind == "rydberg_full":
                params = [float(rng.uniform(0, TWO_PI)), float(rng.uniform(-3, 3)),
                          float(rng.uniform(0, 20))]
                ins.append([kind, list(range(5)), params])
            else:
                ins.append([kind, list(range(5)), [float(rng.uniform(0, 20))]])
        ins += _measures(rng, 5)
        out.append({"instructions": ins, "num_wires": 5})
    return out


GENERATORS = {
    "fermions": fermion_circuits,
    "singlequdit": singlequdit_circuits,
    "multiqudit": multiqudit_circuits,
    "rydberg": rydberg_circuits,
}


def compat_python() -> Path:
    """The compat interpreter; a missing one is an error for the caller to report, not a skip."""
    return Path(os.environ.get("SHOTLINE_COMPAT_PYTHON", REPO / ".venv-compat" / "bin" / "python"))


@dataclass
class PendingReference:
    """A started reference subprocess and the request it still has to be sent."""

    proc: subprocess.Popen
    request: str


def start_reference(
    backend: str, circuits: list[Circuit], shots: int = 1000, seed: int = 1
) -> PendingReference:
    """Start qiskit-cold-atom for all circuits of one backend in one subprocess (imports once).

    The request is only written in finish_reference, so several families can import qiskit
    concurrently without blocking on a full stdin pipe.
    """
    python = compat_python()
    if not python.exists():
        raise FileNotFoundError(
            f"qiskit-cold-atom reference interpreter {python} does not exist; create the compat "
            "venv (tests/compat/requirements.txt) or point SHOTLINE_COMPAT_PYTHON at one"
        )
    proc = subprocess.Popen(
        [str(python), "-W", "ignore", str(REFERENCE_SCRIPT)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    request = json.dumps({"backend": backend, "circuits": circuits, "shots": shots, "seed": seed})
    return PendingReference(proc, request)


def finish_reference(pending: PendingReference) -> dict:
    stdout, stderr = pending.proc.communicate(pending.request, timeout=600)
    if pending.proc.returncode != 0:
        raise RuntimeError(
            f"reference script failed ({pending.proc.returncode}):\n{stderr[-4000:]}"
        )
    return json.loads(stdout)


def reference(backend: str, circuits: list[Circuit], shots: int = 1000, seed: int = 1) -> dict:
    return finish_reference(start_reference(backend, circuits, shots, seed))


def total_variation(p: dict[str, float], q: dict[str, float]) -> float:
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


if __name__ == "__main__":  # pragma: no cover - debugging aid
    json.dump(GENERATORS[sys.argv[1]](int(sys.argv[2])), sys.stdout)
