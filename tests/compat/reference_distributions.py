"""Reference outcome distributions from qiskit-cold-atom, run inside the compat venv.

stdin:  {"backend": "fermions"|"singlequdit"|"multiqudit"|"rydberg",
         "circuits": [{"instructions": [[name, wires, params], ...], "num_wires": int}, ...],
         "shots": int (default 1000), "seed": int (default 1)}
stdout: {"distributions": [{memory string: probability}, ...], "run_ms": [float, ...],
         "qiskit_cold_atom": version}

Each circuit, given in the server's instruction format, is rebuilt with qiskit-cold-atom gates
and run once on FermionicTweezerSimulator / SpinSimulator (`run_ms` times that call, shots
included, imports excluded). The exact distribution is then read off the returned statevector,
marginalised onto the measured wires in the order of the measure instructions.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
import time
from fractions import Fraction

import numpy as np
from qiskit import QuantumCircuit
from qiskit_nature.operators.second_quantization import SpinOp

from qiskit_cold_atom.providers.fermionic_tweezer_backend import FermionicTweezerSimulator
from qiskit_cold_atom.spins import SpinSimulator
from qiskit_cold_atom.spins.spins_gate_library import SpinGate

SITES = 4  # fermionic tweezers; the server numbers wires interleaved, qiskit sequentially


def seq(wire: int) -> int:
    """Interleaved server wire (2k + spin) -> qiskit's sequential wire (spin * sites + k)."""
    return (wire % 2) * SITES + wire // 2


def tweezers(wires: list[int]) -> list[int]:
    return list(dict.fromkeys(w // 2 for w in wires))


def fermion_circuit(instructions: list) -> tuple[QuantumCircuit, list[int]]:
    qc = QuantumCircuit(2 * SITES)
    measured: list[int] = []
    for name, wires, params in instructions:
        if name == "load":
            qc.fload(seq(wires[0]))
        elif name == "fhop":
            sites = tweezers(wires)
            # qiskit Hop: modes = [sites..., sites + SITES...], hopping along that chain.
            qc.fhop([params[0]] * (len(sites) - 1), sites + [s + SITES for s in sites])
        elif name == "fint":
            sites = tweezers(wires)
            qc.fint(params[0], sites + [s + SITES for s in sites])
        elif name == "fphase":
            # The tweezer backend only allows single-tweezer phases; they commute, so split.
            for site in tweezers(wires):
                qc.fphase([params[0]], [site, site + SITES])
        elif name == "measure":
            measured.append(wires[0])
        elif name != "barrier":
            raise ValueError(f"no qiskit-cold-atom equivalent for {name}")
    return qc, measured


def spin_op(terms: list[tuple[str, float]], length: int) -> SpinOp:
    return SpinOp(terms, register_length=length)


def chain_gate(name: str, wires: list[int], terms_for_pair, local_terms=()) -> tuple:
    """A SpinGate whose generator is written out term by term (local indices 0..k-1)."""
    k = len(wires)
    terms: list[tuple[str, float]] = []
    for pos in range(k):
        terms += [(label.format(pos), c) for label, c in local_terms if c != 0.0]
    for pos in range(k - 1):
        terms += [(label.format(pos, pos + 1), c) for label, c in terms_for_pair if c != 0.0]
    if not terms:
        terms = [("I_0", 0.0)]
    return SpinGate(name, k, [], generator=spin_op(terms, k)), wires


def spin_circuit(instructions: list, num_wires: int) -> tuple[QuantumCircuit, list[int], int]:
    qc = QuantumCircuit(num_wires)
    measured: list[int] = []
    atoms = {int(w[0]): int(p[0]) for n, w, p in instructions if n == "load"}
    levels = set(atoms.values()) | ({1} if len(atoms) < num_wires else set())
    if len(levels) != 1:
        raise ValueError("SpinSimulator needs the same spin on every wire")
    (n_atoms,) = levels
    for name, wires, params in instructions:
        if name in ("load", "barrier"):
            continue
        if name == "measure":
            measured.append(wires[0])
        elif name == "rlx":
            qc.rlx(params[0], wires[0])
        elif name == "rlz":
            qc.rlz(params[0], wires[0])
        elif name == "rlz2":
            qc.rlz2(params[0], wires[0])
        elif name == "sq_full":
            omega, delta, chi = params
            qc.oat(chi, delta, omega, wires[0])
        elif name == "rlzlz":
            for a, b in zip(wires, wires[1:]):
                qc.rlzlz(params[0], [a, b])
        elif name == "rlxly" and len(wires) == 2:
            qc.rlxly(params[0], list(wires))
        elif name == "rlxly":
            j = params[0]
            qc.append(*chain_gate("rlxly_chain", wires, [("X_{0} X_{1}", j), ("Y_{0} Y_{1}", j)]))
        elif name == "multiqudit_full":
            omega, delta, chi, jxy, jzz = params
            pair = [("X_{0} X_{1}", jxy), ("Y_{0} Y_{1}", jxy), ("Z_{0} Z_{1}", jzz)]
            local = [("X_{0}", omega), ("Z_{0}", delta), ("Z_{0}^2", chi)]
            qc.append(*chain_gate("multiqudit_full", wires, pair, local))
        elif name in ("rydberg_block", "rydberg_blockade", "rydberg_full"):
            if list(wires) != list(range(wires[0], wires[0] + len(wires))):
                raise ValueError("qiskit's Rydberg gates use gate-local distances: give a run")
            if name == "rydberg_full":
                qc.rydberg_full(*params, modes=list(wires))
            else:
                qc.rydberg_block(params[0], modes=list(wires))
        else:
            raise ValueError(f"no qiskit-cold-atom equivalent for {name}")
    return qc, measured, n_atoms


def marginal(probs: np.ndarray, levels: np.ndarray, measured: list[int]) -> dict[str, float]:
    """levels[i][w]: level of server wire w in basis state i."""
    out: dict[str, float] = {}
    if not measured:
        return out
    for p, row in zip(probs, levels):
        if p > 1e-14:
            key = " ".join(str(int(row[w])) for w in measured)
            out[key] = out.get(key, 0.0) + float(p)
    return out


def run_one(backend: str, circuit: dict, shots: int, seed: int) -> tuple[dict, float]:
    instructions = circuit["instructions"]
    if backend == "fermions":
        qc, measured = fermion_circuit(instructions)
        sim, kwargs = FermionicTweezerSimulator(), {"num_species": 2}
    else:
        num_wires = 5 if backend == "rydberg" else circuit.get("num_wires", 1)
        qc, measured, n_atoms = spin_circuit(instructions, num_wires)
        sim, kwargs = SpinSimulator(), {"spin": Fraction(n_atoms, 2)}
    if measured:
        qc.measure_all()
    start = time.perf_counter()
    result = sim.run(qc, shots=shots, seed=seed, **kwargs).result()
    elapsed = (time.perf_counter() - start) * 1000
    state = np.asarray(result.results[0].data.statevector)
    probs = np.abs(state) ** 2
    if backend == "fermions":
        occupations = FermionicTweezerSimulator.get_basis(qc, num_species=2).get_occupations()
        levels = np.array([[occ[seq(w)] for w in range(2 * SITES)] for occ in occupations])
    else:
        dims = [n_atoms + 1] * qc.num_qubits
        # SpinSimulator's statevector index has wire 0 as the most significant digit.
        levels = np.array(np.unravel_index(np.arange(len(probs)), dims)).T
    if len(levels) != len(probs):
        raise RuntimeError("statevector and basis disagree in length")
    return marginal(probs, levels, measured), elapsed


def main() -> None:
    request = json.load(sys.stdin)
    shots, seed = int(request.get("shots", 1000)), int(request.get("seed", 1))
    dists, times = [], []
    for circuit in request["circuits"]:
        dist, elapsed = run_one(request["backend"], circuit, shots, seed)
        dists.append(dist)
        times.append(elapsed)
    json.dump(
        {"distributions": dists, "run_ms": times, "qiskit_cold_atom": version("qiskit-cold-atom")},
        sys.stdout,
    )


if __name__ == "__main__":
    main()
