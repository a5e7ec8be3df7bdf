"""``shotline ingest`` and ``shotline users`` as processes: readiness, a job, clean SIGTERM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.ingest.conftest import FERMION_JOB
from tests.ingest.process import IngestProcess, service_env, start_ingest, users

pytestmark = pytest.mark.rabbit


@pytest.fixture
def ingest(tmp_path: Path, amqp_url: str, port: int) -> Iterator[IngestProcess]:
    service = start_ingest(tmp_path, amqp_url, port)
    yield service
    service.stop()


def test_users_cli(tmp_path: Path) -> None:
    env = service_env(tmp_path, "amqp://guest:guest@127.0.0.1:5672/%2F", 0)
    added = users(env, "add", "carol")
    token = added.stdout.strip().splitlines()[-1]
    assert added.returncode == 0 and len(token) >= 40
    assert users(env, "add", "carol").returncode == 1
    assert users(env, "add", "bad-name").returncode == 2
    listed = users(env, "list")
    assert "carol\tactive" in listed.stdout and token not in listed.stdout
    rotated = users(env, "token", "carol").stdout.strip().splitlines()[-1]
    assert rotated != token
    assert users(env, "revoke", "carol").returncode == 0
    assert "carol\trevoked" in users(env, "list").stdout
    assert users(env, "revoke", "nobody").returncode == 1
    db = (tmp_path / "ingest" / "jobs.sqlite3").read_bytes()
    assert token.encode() not in db and rotated.encode() not in db


def test_service_accepts_a_job_and_stops_on_sigterm(ingest: IngestProcess) -> None:
    token = ingest.add_user("dave")
    response = requests.post(f"{ingest.base_url}/api/v2/fermions/post_job",
                             json={"job": json.dumps(FERMION_JOB), "token": token}, timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "QUEUED"
    code, log = ingest.stop()
    assert code == 0, log[-2000:]
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(line.get("event") == "stopped" for line in lines)
    assert token not in log  # tokens are never logged
