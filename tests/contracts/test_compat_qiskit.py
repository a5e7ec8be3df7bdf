"""The real qiskit-cold-atom 0.2.1 client accepts our config and result dicts (compat venv).

The client runs in its own interpreter (`SHOTLINE_COMPAT_PYTHON`, default
`<repo>/.venv-compat/bin/python`) through tests/compat/qiskit_accepts.py, with HTTP replaced by
an in-memory server. A missing interpreter fails these tests: they must not pass by skipping.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from contracts.backends import BACKENDS
from contracts.configuration import backend_configuration
from contracts.result import build_result, failed_result
from contracts.status import RECEIVED_DETAIL, JobStatus, StatusDict
from contracts.validation import validate_job
from tests.contracts.helpers import fixture, lab_backend
from tests.support.compat import compat_python

pytestmark = pytest.mark.compat

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "compat" / "qiskit_accepts.py"
REGISTRY = BACKENDS.with_specs([lab_backend("mot")])
CONFIGS = [backend_configuration(spec, "http://compat.invalid") for spec in REGISTRY.values()]


def run_client(request: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run([str(compat_python()), str(SCRIPT)], input=json.dumps(request),
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        pytest.fail(f"qiskit_accepts.py failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def submitted() -> dict[str, Any]:
    return run_client({"mode": "submit", "configs": CONFIGS})["backends"]


def test_provider_loads_every_config_and_dispatches_on_cold_atom_type(submitted: dict) -> None:
    classes = {name: entry.get("backend_class") or entry.get("error")
               for name, entry in submitted.items()}
    assert classes == {
        "shotline_fermions_simulator": "RemoteFermionBackend",
        "shotline_singlequdit_simulator": "RemoteSpinBackend",
        "shotline_multiqudit_simulator": "RemoteSpinBackend",
        "shotline_rydberg_simulator": "RemoteSpinBackend",
        "shotline_mot_hardware": "RemoteSpinBackend",
    }


def _job(submitted: dict, backend_name: str, label: str) -> dict[str, Any]:
    entry = submitted[backend_name]["jobs"][label]
    assert entry["ok"], entry.get("error")
    return entry["job"]


@pytest.mark.parametrize(("backend_name", "label"), [
    ("shotline_fermions_simulator", "hop"),
    ("shotline_singlequdit_simulator", "rotation"),
    ("shotline_multiqudit_simulator", "chain"),
    ("shotline_rydberg_simulator", "blockade"),
    ("shotline_mot_hardware", "load"),
])
def test_client_circuits_pass_its_own_checks_and_then_ours(
    submitted: dict, backend_name: str, label: str
) -> None:
    job = _job(submitted, backend_name, label)
    payload = validate_job(REGISTRY.resolve(backend_name), job)
    assert payload.keys() == ["experiment_0"]


def test_fermion_circuit_arrives_interleaved(submitted: dict) -> None:
    job = _job(submitted, "shotline_fermions_simulator", "hop")
    instructions = job["experiment_0"]["instructions"]
    assert job["experiment_0"]["wire_order"] == "interleaved"
    assert ["fhop", [0, 1, 2, 3], [0.5]] in instructions  # sequential [0,1,4,5] converted


def test_rydberg_blockade_circuit_passes_and_is_normalised(submitted: dict) -> None:
    job = _job(submitted, "shotline_rydberg_simulator", "blockade")
    assert "rydberg_blockade" in [ins[0] for ins in job["experiment_0"]["instructions"]]
    payload = validate_job(BACKENDS["rydberg"], job)
    assert "rydberg_block" in [ins.name for ins in payload["experiment_0"].instructions]


def test_client_still_checks_the_blockade_coupling_map(submitted: dict) -> None:
    entry = submitted["shotline_rydberg_simulator"]["jobs"]["partial_blockade_must_fail"]
    assert not entry["ok"] and "coupling [0, 1] not supported" in entry["error"]


def test_results_status_and_errors_are_understood_by_the_client(submitted: dict) -> None:
    fermions = BACKENDS["fermions"]
    eleven_raw = fixture("qlued_v2_fermions_showcase.job_hop_11_experiments.json")
    eleven = validate_job(fermions, eleven_raw)
    eleven_memories = {key: [f"{index} 0 1 1"] * 9 for index, key in enumerate(eleven.keys())}
    rydberg_job = _job(submitted, "shotline_rydberg_simulator", "blockade")
    rydberg = validate_job(BACKENDS["rydberg"], rydberg_job)
    error = StatusDict(job_id="compat-1", status=JobStatus.ERROR, error_message="boom [shots_limit]")
    request = {
        "mode": "results",
        "configs": CONFIGS,
        "results": [
            {"backend_name": fermions.backend_name,
             "result": build_result("compat-1", fermions, eleven_memories, eleven)},
            {"backend_name": "shotline_rydberg_simulator",
             "result": build_result("compat-1", BACKENDS["rydberg"],
                                    {"experiment_0": ["1 0 1 0 1"] * 3}, rydberg)},
        ],
        "failed": [{"backend_name": fermions.backend_name,
                    "body": failed_result("compat-1", error.detail, error.error_message)}],
        "statuses": [{"backend_name": fermions.backend_name, "body": body.model_dump(mode="json")}
                     for body in (StatusDict(job_id="compat-1", status=JobStatus.INITIALIZING, detail=RECEIVED_DETAIL), error)],
    }
    report = run_client(request)

    first, second = report["results"]
    assert first["ok"], first.get("error")
    assert first["memories"] == [eleven_memories[key] for key in eleven.keys()]
    assert first["names"] == eleven.keys()
    assert first["memory_by_name"]["experiment_10"] == eleven_memories["experiment_10"]
    assert second["ok"] and second["memories"] == [["1 0 1 0 1"] * 3]
    assert report["failed"] == [{"raised": "JobError"}]
    assert report["statuses"] == [
        {"status": "INITIALIZING", "error_message": "None"},
        {"status": "ERROR", "error_message": "boom [shots_limit]"},
    ]

