"""A user flooding a running ingest with ~2 MB invalid jobs: limits come before validation,
validation runs in a bounded pool, and /healthz and another user's job are served meanwhile."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.conftest import free_port, wait_until
from tests.ingest.process import start_ingest

pytestmark = pytest.mark.rabbit
GOOD = {"experiment_0": {"instructions": [["load", [0], []], ["measure", [0], []]],
                         "num_wires": 8, "shots": 2, "wire_order": "interleaved"}}


def hostile_job(experiments: int = 52, length: int = 2000) -> dict[str, Any]:
    """About 2 MB of valid instructions whose very last one is invalid."""
    job = {f"experiment_{e}": {"instructions": [["load", [i % 8], []] for i in range(length)],
                               "num_wires": 8, "shots": 2, "wire_order": "interleaved"}
           for e in range(experiments)}
    job[f"experiment_{experiments - 1}"]["instructions"][-1] = ["nonsense", [0], []]
    return job


def post(base: str, token: str, job: dict[str, Any]) -> requests.Response:
    return requests.post(f"{base}/api/v3/fermions/post_job", json={"payload": job},
                         headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_invalid_jobs_cost_rate_credit_and_a_full_validation_line_answers_503(
        tmp_path, amqp_url, monkeypatch) -> None:
    monkeypatch.setenv("SHOTLINE_SUBMIT_BURST", "3")
    monkeypatch.setenv("SHOTLINE_SUBMIT_RATE", "0.01")
    monkeypatch.setenv("SHOTLINE_VALIDATE_WORKERS", "1")
    monkeypatch.setenv("SHOTLINE_VALIDATE_QUEUE", "0")
    service = start_ingest(tmp_path, amqp_url, free_port())
    try:
        mallory, eve, bob = (service.add_user(n) for n in ("mallory", "eve", "bob"))
        base, job = service.base_url, hostile_job()
        statuses = [post(base, mallory, job).status_code for _ in range(4)]
        assert statuses == [422, 422, 422, 429], statuses
        refused = post(base, mallory, job)
        assert refused.json()["status"] == "ERROR" and "Retry-After" in refused.headers

        # Eve floods concurrently: one validation slot, no waiting line.
        with ThreadPoolExecutor(3) as flood:
            answers = list(flood.map(lambda _: post(base, eve, job), range(3)))
            health = requests.get(f"{base}/healthz", timeout=2)
            assert health.status_code == 200
        codes = sorted(a.status_code for a in answers)
        assert set(codes) <= {422, 503} and 503 in codes, codes
        busy = next(a for a in answers if a.status_code == 503)
        assert busy.json()["error_message"] and busy.headers["Retry-After"] == "1"

        accepted: list[requests.Response] = []

        def bob_accepted() -> bool:
            answer = post(base, bob, GOOD)
            accepted.append(answer)
            return answer.status_code in (200, 201, 202)

        wait_until(bob_accepted, timeout=20)
        assert accepted[-1].json()["status"] == "QUEUED", accepted[-1].json()
    finally:
        service.stop()
