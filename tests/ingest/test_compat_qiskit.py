"""The real qiskit-cold-atom 0.2.1 client against a running ingest, in its own virtualenv.

The interpreter is ``SHOTLINE_COMPAT_PYTHON`` (default ``.venv-compat/bin/python``); when it
is missing the test fails (never skips). Until the spooler and analysis exist, the test
finishes the jobs itself by publishing the events they would publish.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.events import JobDone, JobFailed, JobSpooled, JobStatusChanged
from contracts.status import JobStatus
from services.common.bus import Publisher

from tests.ingest.process import ROOT, IngestProcess, start_ingest
from tests.support.compat import compat_python

pytestmark = [pytest.mark.rabbit, pytest.mark.compat]
SCRIPT = ROOT / "tests" / "compat" / "client_qiskit.py"
TIMEOUT = 180


@pytest.fixture
def ingest(tmp_path: Path, amqp_url: str, port: int) -> Iterator[IngestProcess]:
    service = start_ingest(tmp_path / "server", amqp_url, port)
    yield service
    service.stop()


def result_for(job_id: str, backend: str, memory: list[str]) -> dict[str, Any]:
    # What the analysis service will publish; deliberately without "status": the ingest adds
    # "finished" itself so qiskit's result() loop ends.
    return {"backend_name": f"shotline_{backend}_simulator", "backend_version": "0.1",
            "job_id": job_id, "qobj_id": None, "success": True,
            "results": [{"header": {"name": "experiment_0"}, "shots": len(memory),
                         "success": True, "data": {"memory": memory}}]}


def finish_jobs(amqp_url: str, jobs: dict[str, str]) -> None:
    publisher = Publisher(amqp_url, "test.pipeline")
    for name, backend, memory in (("fermion", "fermions", ["1 0 0 0 1 0 0 0"] * 3),
                                  ("spin", "singlequdit", ["25", "26"])):
        job_id = jobs[name]
        publisher.publish(JobSpooled.create("test", job_id=job_id, backend=backend,
                                            experiments=[], total_shots=len(memory)))
        publisher.publish(JobStatusChanged.create(
            "test", job_id=job_id, backend=backend, status=JobStatus.RUNNING,
            detail="shots running", shots_done=1, shots_total=len(memory)))
        publisher.publish(JobDone.create("test", job_id=job_id, backend=backend,
                                         result=result_for(job_id, backend, memory)))
    publisher.publish(JobFailed.create("test", job_id=jobs["failing"], backend="singlequdit",
                                       stage="execution", reason="the MOT did not load"))
    publisher.close()


def test_qiskit_cold_atom_client(ingest: IngestProcess, amqp_url: str, tmp_path: Path) -> None:
    python = compat_python()
    token = ingest.add_user("qiskit_user")
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "PYTHONWARNINGS": "ignore"}
    client = subprocess.Popen([str(python), str(SCRIPT), ingest.base_url, "qiskit_user", token],
                              env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None and client.stdin is not None
        first = json.loads(client.stdout.readline() or '{"crash": "no output"}')
        assert "crash" not in first, first.get("crash")
        # Provider discovery: both URLs answered get_config; dispatch on cold_atom_type
        assert first["backends"] == ["shotline_fermions_simulator", "shotline_singlequdit_simulator"]
        assert first["classes"] == ["RemoteFermionBackend", "RemoteSpinBackend"]
        assert set(first["statuses"].values()) == {"QUEUED"}
        assert (home / ".qiskit" / "cold_atom_credentials.conf").read_text().count(token) == 1
        finish_jobs(amqp_url, first["jobs"])
        client.stdin.write("go\n")
        client.stdin.flush()
        report = json.loads(client.stdout.readline() or '{"crash": "no output"}')
        assert "crash" not in report, report.get("crash")
        _, stderr = client.communicate(timeout=60)
    finally:
        if client.poll() is None:
            client.kill()
            client.communicate()
    assert report["fermion"] == {"memory": ["1 0 0 0 1 0 0 0"] * 3, "success": True,
                                 "status": "DONE", "error_message": "None"}
    assert report["spin"]["memory"] == ["25", "26"] and report["spin"]["status"] == "DONE"
    failing = report["failing"]
    assert failing["raised"] == "JobError" and failing["status"] == "ERROR"
    assert failing["error_message"] == "execution: the MOT did not load"
    assert report["retrieved"] == {"job_id": first["jobs"]["fermion"], "status": "DONE",
                                   "memory": ["1 0 0 0 1 0 0 0"] * 3}
    assert "could not be retrieved" in report["retrieve_failed"]
    assert client.returncode == 0, stderr[-3000:]
