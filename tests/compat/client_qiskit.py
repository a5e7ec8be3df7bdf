"""The real qiskit-cold-atom 0.2.1 client against a running ingest (run in .venv-compat).

Usage: client_qiskit.py BASE_URL USERNAME TOKEN. HOME must be a temporary directory: the
credentials file is written there with the client's own ``save_account``.

Phase 1 prints one JSON line {"jobs": {...}, "statuses": {...}, "backends": [...]} after
submitting a fermion job, a spin job and a job the test will fail; then it waits for one line
on stdin (the test finishes the jobs by publishing events). Phase 2 prints one JSON line with
what result(), status(), error_message() and retrieve_job() returned.
"""

from __future__ import annotations

import json
import math
import sys
import traceback
from typing import Any

from qiskit import QuantumCircuit

import qiskit_cold_atom.fermions  # noqa: F401  (registers fload/fhop/...)
import qiskit_cold_atom.spins  # noqa: F401  (registers load_spins/rlx/...)
from qiskit_cold_atom.exceptions import QiskitColdAtomError
from qiskit_cold_atom.providers import ColdAtomProvider
from qiskit.providers import JobError

POLL_S = 0.1
TIMEOUT_S = 60.0


def fermion_circuit() -> QuantumCircuit:
    qc = QuantumCircuit(8)
    qc.fload(0)
    qc.fload(4)
    qc.fhop([0.5], [0, 1, 4, 5])
    qc.measure_all()
    return qc


def spin_circuit() -> QuantumCircuit:
    qc = QuantumCircuit(1)
    qc.load_spins(50, 0)
    qc.rlx(math.pi / 2, 0)
    qc.measure_all()
    return qc


def emit(data: dict[str, Any]) -> None:
    print(json.dumps(data), flush=True)


def main(base: str, username: str, token: str) -> None:
    # The fermion URL is saved with a trailing slash, as the qlued devices page shows it, so
    # the client really requests `...//get_config`; the spin one by its full backend name.
    urls = [f"{base}/api/v2/fermions/", f"{base}/api/v2/shotline_singlequdit_simulator"]
    ColdAtomProvider.save_account(url=urls, username=username, token=token, overwrite=True)
    provider = ColdAtomProvider.load_account()
    # The provider also lists its local simulators; the remote ones come from our get_config.
    backends = {b.name(): b for b in provider.backends() if b.name().startswith("shotline_")}
    fermions = provider.get_backend("shotline_fermions_simulator")
    spins = provider.get_backend("shotline_singlequdit_simulator")
    jobs = {
        "fermion": fermions.run(fermion_circuit(), shots=3),
        "spin": spins.run(spin_circuit(), shots=2),
        "failing": spins.run(spin_circuit(), shots=1),
    }
    emit({"backends": sorted(backends),
          "classes": sorted(type(b).__name__ for b in backends.values()),
          "jobs": {name: job.job_id() for name, job in jobs.items()},
          "statuses": {name: job.status().name for name, job in jobs.items()}})
    sys.stdin.readline()  # the test has published the events that finish the jobs

    report: dict[str, Any] = {}
    for name in ("fermion", "spin"):
        result = jobs[name].result(timeout=TIMEOUT_S, wait=POLL_S)
        report[name] = {"memory": result.get_memory(0), "success": result.success,
                        "status": jobs[name].status().name,
                        "error_message": jobs[name].error_message()}
    try:
        jobs["failing"].result(timeout=TIMEOUT_S, wait=POLL_S)
        report["failing"] = {"raised": None}
    except JobError as exc:
        report["failing"] = {"raised": "JobError", "text": str(exc)[:500]}
    report["failing"]["status"] = jobs["failing"].status().name
    report["failing"]["error_message"] = jobs["failing"].error_message()
    retrieved = fermions.retrieve_job(jobs["fermion"].job_id())
    report["retrieved"] = {"job_id": retrieved.job_id(), "status": retrieved.status().name,
                           "memory": retrieved.result(timeout=TIMEOUT_S, wait=POLL_S).get_memory(0)}
    try:
        spins.retrieve_job(jobs["failing"].job_id())
        report["retrieve_failed"] = None
    except QiskitColdAtomError as exc:
        report["retrieve_failed"] = str(exc)
    emit(report)


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except Exception:  # report the client's own traceback to the test
        emit({"crash": traceback.format_exc()})
        sys.exit(1)
