"""Cases qiskit-cold-atom cannot run, checked against a plain dense-matrix model written here.

SpinSimulator has one spin length for all wires, so multiqudit registers with different atom
numbers per wire (and unloaded spin-1/2 wires) are compared with full kron-product matrices and
scipy.linalg.expm instead; so are Rydberg gates on non-contiguous wires, where qiskit's gates
would measure distances in gate-local indices rather than positions in the chain.
"""

from __future__ import annotations

import math
from functools import reduce
from itertools import combinations

import numpy as np
import pytest
import scipy.linalg as sla

import physics_circuits as pc
from services.emulator.physics import outcome_distribution


def spin_matrices(n_atoms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lx, Ly, Lz in the basis m = S, S-1, ..., -S, from <m+1|L+|m> = sqrt(S(S+1) - m(m+1))."""
    s = n_atoms / 2
    m = np.array([s - k for k in range(n_atoms + 1)])
    lp = np.zeros((n_atoms + 1, n_atoms + 1))
    for k in range(1, n_atoms + 1):
        lp[k - 1, k] = math.sqrt(s * (s + 1) - m[k] * (m[k] + 1))
    return (lp + lp.T) / 2, (lp - lp.T) / 2j, np.diag(m)


class Dense:
    def __init__(self, atoms: list[int]) -> None:
        self.dims = [n + 1 for n in atoms]
        self.ops = [spin_matrices(n) for n in atoms]
        self.psi = np.zeros(int(np.prod(self.dims)), complex)
        self.psi[0] = 1

    def at(self, wire: int, op: np.ndarray) -> np.ndarray:
        mats = [op if w == wire else np.eye(d) for w, d in enumerate(self.dims)]
        return reduce(np.kron, mats)

    def l(self, wire: int, axis: int) -> np.ndarray:
        return self.at(wire, self.ops[wire][axis])

    def evolve(self, h: np.ndarray) -> None:
        self.psi = sla.expm(-1j * h) @ self.psi

    def distribution(self, measured: list[int]) -> dict[str, float]:
        out: dict[str, float] = {}
        for idx, p in enumerate(np.abs(self.psi) ** 2):
            levels = np.unravel_index(idx, self.dims)
            key = " ".join(str(levels[w]) for w in measured)
            out[key] = out.get(key, 0.0) + p
        return out


def dense_multiqudit(instructions: list, num_wires: int) -> dict[str, float]:
    atoms = [1] * num_wires
    for name, wires, params in instructions:
        if name == "load":
            atoms[wires[0]] = int(params[0])
    reg, measured = Dense(atoms), []
    for name, wires, params in instructions:
        lx = lambda w: reg.l(w, 0)  # noqa: E731
        ly = lambda w: reg.l(w, 1)  # noqa: E731
        lz = lambda w: reg.l(w, 2)  # noqa: E731
        pairs = list(zip(wires, wires[1:]))
        if name == "measure":
            measured.append(wires[0])
        elif name == "rlx":
            reg.evolve(params[0] * lx(wires[0]))
        elif name == "rlz":
            reg.evolve(params[0] * lz(wires[0]))
        elif name == "rlz2":
            reg.evolve(params[0] * lz(wires[0]) @ lz(wires[0]))
        elif name == "rlzlz":
            reg.evolve(sum(params[0] * lz(a) @ lz(b) for a, b in pairs))
        elif name == "rlxly":
            reg.evolve(sum(params[0] * (lx(a) @ lx(b) + ly(a) @ ly(b)) for a, b in pairs))
        elif name == "multiqudit_full":
            omega, delta, chi, jxy, jzz = params
            h = sum(omega * lx(w) + delta * lz(w) + chi * lz(w) @ lz(w) for w in wires)
            h = h + sum(
                jxy * (lx(a) @ lx(b) + ly(a) @ ly(b)) + jzz * lz(a) @ lz(b) for a, b in pairs
            )
            reg.evolve(h)
    return reg.distribution(measured)


def dense_rydberg(instructions: list) -> dict[str, float]:
    reg, measured = Dense([1] * 5), []
    n = lambda w: reg.at(w, np.diag([0.0, 1.0]))  # noqa: E731  level 1 = Rydberg state
    for name, wires, params in instructions:
        if name == "measure":
            measured.append(wires[0])
        elif name == "rlx":
            reg.evolve(params[0] * reg.l(wires[0], 0))
        elif name == "rlz":
            reg.evolve(params[0] * reg.l(wires[0], 2))
        else:
            omega, delta, phi = params if name == "rydberg_full" else (0.0, 0.0, params[0])
            h = sum(omega * reg.l(w, 0) + delta * reg.l(w, 2) for w in wires)
            h = h + sum(phi * n(a) @ n(b) / abs(a - b) ** 6 for a, b in combinations(wires, 2))
            reg.evolve(h)
    return reg.distribution(measured)


def mixed_multiqudit_circuits(count: int, seed: int = 7) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        num_wires = int(rng.integers(2, 6))
        atoms = [int(rng.integers(0, 5)) if rng.random() < 0.8 else None for _ in range(num_wires)]
        while np.prod([(a if a is not None else 1) + 1 for a in atoms]) > 200:
            atoms[int(np.argmax([a or 1 for a in atoms]))] = None  # unloaded: spin 1/2
        ins = [["load", [w], [a]] for w, a in enumerate(atoms) if a is not None]
        for _ in range(int(rng.integers(3, 7))):
            kind = str(rng.choice(["rlx", "rlz2", "rlxly", "rlzlz", "multiqudit_full"]))
            wires = [int(w) for w in rng.permutation(num_wires)[: rng.integers(2, num_wires + 1)]]
            if kind in ("rlx", "rlz2"):
                ins.append([kind, wires[:1], [float(rng.uniform(0, 6))]])
            elif kind == "multiqudit_full":
                ins.append([kind, wires, [float(v) for v in rng.uniform(0, 1.5, 5)]])
            else:
                ins.append([kind, wires, [float(rng.uniform(0, 3))]])
        ins += [["measure", [int(w)], []] for w in rng.permutation(num_wires)]
        out.append({"instructions": ins, "num_wires": num_wires})
    return out


@pytest.mark.parametrize(
    "circuit", mixed_multiqudit_circuits(30), ids=lambda c: f"{c['num_wires']}wires"
)
def test_mixed_spin_lengths_match_dense_model(circuit: dict) -> None:
    ours = outcome_distribution("multiqudit", circuit["instructions"], circuit["num_wires"])
    expected = dense_multiqudit(circuit["instructions"], circuit["num_wires"])
    assert pc.total_variation(ours, expected) < 1e-6


def rydberg_subset_circuits(count: int, seed: int = 11) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        ins = []
        for _ in range(int(rng.integers(3, 7))):
            kind = str(rng.choice(["rlx", "rlz", "rydberg_block", "rydberg_full"]))
            if kind in ("rlx", "rlz"):
                ins.append([kind, [int(rng.integers(0, 5))], [float(rng.uniform(0, 6))]])
            else:
                wires = sorted(int(w) for w in rng.permutation(5)[: rng.integers(2, 6)])
                params = [float(rng.uniform(0, 6)), float(rng.uniform(-2, 2)),
                          float(rng.uniform(0, 30))]
                ins.append([kind, wires, params if kind == "rydberg_full" else params[2:]])
        ins += [["measure", [w], []] for w in range(5)]
        out.append({"instructions": ins, "num_wires": 5})
    return out


def test_rydberg_gates_on_wire_subsets_match_dense_model() -> None:
    for circuit in rydberg_subset_circuits(30):
        ours = outcome_distribution("rydberg", circuit["instructions"], 5)
        assert pc.total_variation(ours, dense_rydberg(circuit["instructions"])) < 1e-6, circuit
