"""The real clients against the whole running system, nothing faked: qiskit-cold-atom 0.2.1
(its own code, in .venv-compat), the pennylane-ls protocol as that client sends it, and
``shotline submit --wait``. Every memory is compared with the emulator's ground truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.test_pipeline import archived_shots, ground_truth
from tests.support.compat import ROOT, compat_python
from tests.support.stack import Stack

pytestmark = [pytest.mark.rabbit, pytest.mark.e2e]


@pytest.fixture
def stack(tmp_path: Path, amqp_url: str) -> Iterator[Stack]:
    with Stack(tmp_path / "home", amqp_url) as running:
        running.start()
        running.add_user("alice")
        yield running


def truth(stack: Stack, backend: str, job_id: str) -> list[list[str]]:
    """Ground-truth memory per experiment (numeric order), shot by shot."""
    shots = archived_shots(stack.home / "sds", backend, job_id)
    return [[ground_truth(p) for p in shots[name]]
            for name in sorted(shots, key=lambda k: int(k.split("_")[1]))]


@pytest.mark.compat
def test_qiskit_cold_atom_client_gets_the_measured_memory(stack: Stack, tmp_path: Path):
    home = tmp_path / "client-home"
    home.mkdir()
    run = subprocess.run(
        [str(compat_python()), str(ROOT / "tests/compat/client_qiskit_e2e.py"), stack.base_url, "alice", stack.token],
        env={"HOME": str(home), "PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=300)
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert "crash" not in report, report.get("crash")
    for backend, seen in report.items():
        assert seen["status"] == "DONE" and seen["success"] is True
        # get_memory() of every experiment equals what the emulator measured, shot by shot
        assert seen["memory"] == truth(stack, backend, seen["job_id"]), backend
    assert len(report["fermions"]["memory"]) == 2
    # qc.fload([0, 4]) (one load on two wires) loaded two atoms: every shot sees both
    assert all(sum(map(int, m.split())) == 2 for m in report["fermions"]["memory"][0])


def test_pennylane_ls_protocol_end_to_end(stack: Stack):
    # pennylane-ls: form-encoded post to {prefix}post_job/, `password` carries the token,
    # status/result by `json={"job_id": ..}`, num_wires 1 whatever the wires, no wire_order.
    prefix = f"{stack.base_url}/api/fermions/"
    job = {"experiment_0": {"instructions": [["load", [0], []], ["load", [7], []],
                                             ["fhop", [0, 1, 2, 3], [0.7]],
                                             ["measure", [0], []], ["measure", [2], []], ["measure", [7], []]],
                            "num_wires": 1, "shots": 6}}
    posted = requests.post(f"{prefix}post_job/", data={"json": json.dumps(job), "username": "alice",
                                                        "password": stack.token}, timeout=30)
    job_id = posted.json()["job_id"]
    query = {"json": json.dumps({"job_id": job_id}), "username": "alice", "password": stack.token}
    deadline = time.monotonic() + 120
    while True:  # the client polls get_job_status every 2 s until DONE
        status = requests.get(f"{prefix}get_job_status/", params=query, timeout=30).json()
        if status["status"] in ("DONE", "ERROR") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status["status"] == "DONE", status
    result = requests.get(f"{prefix}get_job_result/", params=query, timeout=30).json()
    memory = result["results"][0]["data"]["memory"]  # what the client reads: experiment_0 only
    assert memory == truth(stack, "fermions", job_id)[0]
    assert all(len(m.split()) == 3 for m in memory)


def test_shotline_submit_waits_with_progress_and_prints_the_result(stack: Stack, tmp_path: Path):
    job_file = tmp_path / "job.json"
    job_file.write_text((ROOT / "tests/data/qlued_v2_fermions_showcase.job_load_measure.json").read_text())
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "submit", str(job_file), "--backend", "fermions", "--wait"],
        env={**stack.env, "SHOTLINE_TOKEN": stack.token}, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    job_id, result_text = done.stdout.split("\n", 1)
    result = json.loads(result_text)
    assert result["status"] == "finished" and result["job_id"] == job_id
    assert [r["data"]["memory"] for r in result["results"]] == truth(stack, "fermions", job_id)
    assert "DONE" in done.stderr  # the progress bar's last state


def test_shotline_submit_reports_a_rejected_job(stack: Stack, tmp_path: Path):
    job_file = tmp_path / "bad.json"
    job_file.write_text(json.dumps({"experiment_0": {"instructions": [["fhop", [0, 1, 2, 5], [0.1]]],
                                                     "num_wires": 8, "shots": 1}}))
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "submit", str(job_file), "--backend", "fermions"],
        env={**stack.env, "SHOTLINE_TOKEN": stack.token}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "experiment_0, instruction 0 (fhop)" in done.stderr and "coupling map" in done.stderr
