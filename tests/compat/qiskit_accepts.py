"""Drive the real qiskit-cold-atom 0.2.1 client against our JSON, offline (run in .venv-compat).

Reads one JSON request on stdin and writes one JSON report on stdout. `requests.get/post` are
replaced by an in-memory server that answers with the dicts given, so the client's own code
paths run unchanged: provider dispatch on `cold_atom_type`, `BackendConfiguration.from_dict`,
`CircuitTools.validate_circuits` + `circuit_to_cold_atom` inside `backend.run`, the result
polling loop and `Result.from_dict`.

Request: {"mode": "submit", "configs": [config, ...]}
         -> {"backends": {backend_name: {"ok", "backend_class", "jobs": {circuit: job|error}}}}
         {"mode": "results", "configs": [...], "results": [{"backend_name", "result"}, ...],
          "failed": [{"backend_name", "body"}], "statuses": [{"backend_name", "body"}]}
         -> {"results": [...], "failed": [...], "statuses": [...]}
"""

from __future__ import annotations

import json
import math
import sys
import traceback
from typing import Any, Callable

import requests
from qiskit import QuantumCircuit
from qiskit.providers.models import BackendConfiguration
from qiskit.result import Result

import qiskit_cold_atom.fermions  # noqa: F401  (registers fload/fhop/... on QuantumCircuit)
import qiskit_cold_atom.spins  # noqa: F401  (registers load_spins/rlx/rydberg_block/...)
from qiskit_cold_atom.exceptions import QiskitColdAtomError
from qiskit_cold_atom.providers import ColdAtomProvider
from qiskit_cold_atom.providers.cold_atom_job import ColdAtomJob

BASE = "http://compat.invalid/api/v2/"


class _Response:
    def __init__(self, body: Any, status_code: int = 200) -> None:
        self._body = body
        self.status_code = status_code
        self.text = json.dumps(body)

    def json(self) -> Any:
        return self._body

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise requests.HTTPError(str(self.status_code))


class FakeServer:
    """Answers the four client calls from dicts; records every posted job."""

    def __init__(self, configs: list[dict[str, Any]]) -> None:
        self.configs = {config["backend_name"]: config for config in configs}
        self.posted: list[dict[str, Any]] = []
        self.result_body: Any = None
        self.status_body: Any = None

    def url(self, backend_name: str) -> str:
        return BASE + backend_name

    def _route(self, url: str) -> tuple[str, str]:
        backend, _, operation = url.removeprefix(BASE).rpartition("/")
        return backend, operation

    def get(self, url: str, params: Any = None, **_: Any) -> _Response:
        backend, operation = self._route(url)
        if operation == "get_config":
            return _Response(self.configs[backend])
        if operation == "get_job_result":
            return _Response(self.result_body)
        if operation == "get_job_status":
            return _Response(self.status_body)
        return _Response({"status": "ERROR", "detail": f"no route {operation}"}, 404)

    def post(self, url: str, json: Any = None, **_: Any) -> _Response:  # noqa: A002
        self.posted.append(json)
        return _Response({"job_id": f"compat-{len(self.posted)}", "status": "INITIALIZING",
                          "detail": "Got your json.", "error_message": "None"})

    def install(self) -> None:
        requests.get = self.get  # type: ignore[assignment]
        requests.post = self.post  # type: ignore[assignment]

    def provider(self) -> ColdAtomProvider:
        urls = [self.url(name) for name in self.configs]
        return ColdAtomProvider(credentials={"urls": urls, "username": "compat", "token": "t"})


def _fermions() -> dict[str, QuantumCircuit]:
    # Qiskit wires are sequential (4 sites spin-up, then 4 sites spin-down); the client
    # converts them to the backend's interleaved order before sending.
    qc = QuantumCircuit(8)
    qc.fload(0)  # one load per wire: fload([0, 4]) would be one 2-wire load
    qc.fload(4)
    qc.fhop([0.5], [0, 1, 4, 5])
    qc.fint(0.3, list(range(8)))
    qc.fphase([0.2], [0, 4])
    qc.measure_all()
    return {"hop": qc}


def _singlequdit() -> dict[str, QuantumCircuit]:
    qc = QuantumCircuit(1)
    qc.load_spins(50, 0)
    qc.rlx(math.pi / 2, 0)
    qc.rlz(0.3, 0)
    qc.rlz2(0.2, 0)
    qc.measure_all()
    return {"rotation": qc}


def _multiqudit() -> dict[str, QuantumCircuit]:
    qc = QuantumCircuit(3)
    for wire in range(3):
        qc.load_spins(10, wire)
    qc.rlx(0.5, 0)
    qc.rlz(0.3, 1)
    qc.rlz2(0.2, 2)
    qc.rlzlz(0.1, [0, 1])
    qc.rlxly(0.1, [1, 2])
    qc.measure_all()
    return {"chain": qc}


def _rydberg() -> dict[str, QuantumCircuit]:
    block = QuantumCircuit(5)
    block.rlx(math.pi / 2, 0)
    block.rlz(0.1, 4)
    block.rydberg_block(0.5, modes=list(range(5)))  # instruction name "rydberg_blockade"
    block.rydberg_full(1.0, 0.5, 0.3, modes=list(range(5)))
    block.measure_all()
    # A blockade on two wires breaks the coupling map; the client must refuse it locally.
    partial = QuantumCircuit(5)
    partial.rydberg_block(0.5, modes=[0, 1])
    return {"blockade": block, "partial_blockade_must_fail": partial}


def _mot() -> dict[str, QuantumCircuit]:
    qc = QuantumCircuit(1)
    qc.load_spins(100, 0)
    qc.measure_all()
    return {"load": qc}


CIRCUITS: dict[str, Callable[[], dict[str, QuantumCircuit]]] = {
    "fermions": _fermions,
    "singlequdit": _singlequdit,
    "multiqudit": _multiqudit,
    "rydberg": _rydberg,
    "mot": _mot,
}


def _error(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=4)}


def submit(request: dict[str, Any]) -> dict[str, Any]:
    server = FakeServer(request["configs"])
    server.install()
    report: dict[str, Any] = {}
    for config in request["configs"]:
        name = config["backend_name"]
        entry: dict[str, Any] = {"ok": True, "jobs": {}}
        report[name] = entry
        try:
            BackendConfiguration.from_dict(config)
            backend = server.provider().get_backend(name)
        except Exception as exc:  # report, do not stop: the test names the backend that failed
            report[name] = _error(exc)
            continue
        entry["backend_class"] = type(backend).__name__
        for label, circuit in CIRCUITS[config["display_name"]]().items():
            try:
                backend.run(circuit, shots=3)
                entry["jobs"][label] = {"ok": True, "job": json.loads(server.posted[-1]["job"])}
            except QiskitColdAtomError as exc:
                entry["jobs"][label] = {"ok": False, "error": f"QiskitColdAtomError: {exc}"}
            except Exception as exc:
                entry["jobs"][label] = _error(exc)
    return {"backends": report}


def results(request: dict[str, Any]) -> dict[str, Any]:
    server = FakeServer(request["configs"])
    server.install()
    provider = server.provider()
    out: dict[str, Any] = {"results": [], "failed": [], "statuses": []}
    for item in request.get("results", []):
        try:
            direct = Result.from_dict(item["result"])
            server.result_body = item["result"]
            job = ColdAtomJob(provider.get_backend(item["backend_name"]), "compat-1")
            polled = job.result(timeout=5, wait=0.01)
            out["results"].append({
                "ok": True,
                "memories": [polled.get_memory(i) for i in range(len(polled.results))],
                "names": [res.header.name for res in direct.results],
                "memory_by_name": {res.header.name: polled.get_memory(res.header.name)
                                   for res in direct.results},
            })
        except Exception as exc:
            out["results"].append(_error(exc))
    for item in request.get("failed", []):
        server.result_body = item["body"]
        job = ColdAtomJob(provider.get_backend(item["backend_name"]), "compat-1")
        try:
            job.result(timeout=2, wait=0.01)
            out["failed"].append({"raised": None})
        except Exception as exc:
            out["failed"].append({"raised": type(exc).__name__})
    for item in request.get("statuses", []):
        server.status_body = item["body"]
        job = ColdAtomJob(provider.get_backend(item["backend_name"]), "compat-1")
        out["statuses"].append({"status": job.status().name,
                                "error_message": job.error_message()})
    return out


def main() -> None:
    request = json.load(sys.stdin)
    handler = {"submit": submit, "results": results}[request["mode"]]
    json.dump(handler(request), sys.stdout)


if __name__ == "__main__":
    main()
