"""The real qiskit-cold-atom 0.2.1 client against the whole running system (run in .venv-compat).

Usage: client_qiskit_e2e.py BASE_URL USERNAME TOKEN, with HOME a temporary directory (the
client's own save_account writes its credentials file there). Runs circuits on a fermion and
two spin backends (one of them with the Rydberg blockade, sent as "rydberg_blockade") and prints
one JSON line: per backend the job id, the memory of every experiment and the final status.
"""

from __future__ import annotations

import json
import math
import sys
import traceback

from qiskit import QuantumCircuit

import qiskit_cold_atom.fermions  # noqa: F401  (registers fload/fhop/...)
import qiskit_cold_atom.spins  # noqa: F401  (registers load_spins/rlx/rydberg_block/...)
from qiskit_cold_atom.providers import ColdAtomProvider

TIMEOUT_S = 180.0


def fermion_circuits() -> list[QuantumCircuit]:
    hop = QuantumCircuit(8)
    hop.fload([0, 4])  # one `load` on two wires, as this client sends it
    hop.fhop([math.pi / 4], [0, 1, 4, 5])
    hop.measure_all()
    still = QuantumCircuit(8)
    still.fload(1)
    still.measure_all()
    return [hop, still]


def spin_circuit() -> QuantumCircuit:
    qc = QuantumCircuit(1)
    qc.load_spins(20, 0)
    qc.rlx(math.pi / 3, 0)
    qc.measure_all()
    return qc


def rydberg_circuit() -> QuantumCircuit:
    qc = QuantumCircuit(5)
    qc.rlx(math.pi / 2, 0)
    qc.rlx(math.pi / 2, 1)
    qc.rydberg_block(1.0, modes=list(range(5)))
    qc.measure_all()
    return qc


def main(base: str, username: str, token: str) -> None:
    names = ("fermions", "singlequdit", "rydberg")
    ColdAtomProvider.save_account(url=[f"{base}/api/v2/{n}" for n in names], username=username,
                                  token=token, overwrite=True)
    provider = ColdAtomProvider.load_account()
    runs = {
        "fermions": provider.get_backend("shotline_fermions_simulator").run(fermion_circuits(), shots=6),
        "singlequdit": provider.get_backend("shotline_singlequdit_simulator").run(spin_circuit(), shots=5),
        "rydberg": provider.get_backend("shotline_rydberg_simulator").run(rydberg_circuit(), shots=5),
    }
    report = {}
    for name, job in runs.items():
        result = job.result(timeout=TIMEOUT_S, wait=0.2)
        report[name] = {
            "job_id": job.job_id(),
            "status": job.status().name,
            "success": result.success,
            "memory": [result.get_memory(i) for i in range(len(result.results))],
        }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except Exception:  # report the client's own traceback to the test
        print(json.dumps({"crash": traceback.format_exc()}), flush=True)
        sys.exit(1)
