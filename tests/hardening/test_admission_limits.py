"""What a job may be, end to end on a running stack: the largest accepted job (max_job_shots,
max_instructions, a body near max_body_bytes) completes; one over a bound gets a 4xx naming it;
a job whose publish is refused by the broker ends ERROR at once and frees its owner's limit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from contracts.backends import BACKENDS
from contracts.topology import SPOOLER_JOBS
from tests.conftest import AMQP_BASE, wait_until
from tests.support.stack import Stack

pytestmark = [pytest.mark.rabbit, pytest.mark.e2e]
SPEC = BACKENDS["fermions"]
MAX_BODY = 2 * 1024 * 1024  # the ingest's default max_body_bytes
HOP = ["fhop", [0, 1, 2, 3], [0.123456789]]


def largest_job(experiments: int) -> dict[str, Any]:
    """max_instructions per experiment and max_job_shots in all."""
    shots = [SPEC.max_job_shots // experiments] * experiments
    shots[0] += SPEC.max_job_shots - sum(shots)
    return {f"experiment_{i}": {
        "instructions": [["load", [0], []], ["load", [3], []]]
        + [HOP] * (SPEC.max_instructions - 3) + [["measure", [0], []]],
        "num_wires": 8, "shots": shots[i], "wire_order": "interleaved"} for i in range(experiments)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, management) -> Iterator[Stack]:
    vhost = f"test-admission-{uuid.uuid4().hex[:8]}"
    management.create_vhost(vhost)
    running = Stack(tmp_path_factory.mktemp("admission"), f"{AMQP_BASE}/{quote(vhost, safe='')}",
                    extra_env={"SHOTLINE_MAX_UNFINISHED_JOBS": "1"})
    running.vhost = vhost  # type: ignore[attr-defined]
    try:
        running.start()
        running.add_user("alice")
        yield running
    finally:
        running.stop()
        management.delete_vhost(vhost)


def post(stack: Stack, job: dict[str, Any], token: str | None = None) -> requests.Response:
    return stack.session.post(f"{stack.base_url}/api/v2/fermions/post_job",
                              json={"job": json.dumps(job), "token": token or stack.token},
                              timeout=120)


def test_the_largest_accepted_job_completes_and_one_more_shot_is_refused(stack: Stack) -> None:
    experiments = 1
    while len(json.dumps({"job": json.dumps(largest_job(experiments + 1))})) < MAX_BODY * 0.98:
        experiments += 1
    job = largest_job(experiments)
    body_bytes = len(json.dumps({"job": json.dumps(job), "token": stack.token}))
    assert body_bytes > MAX_BODY * 0.9, body_bytes  # the body bound is nearly reached too

    over = largest_job(experiments)
    over["experiment_0"]["shots"] += 1
    refused = post(stack, over)
    assert refused.status_code == 422, refused.text
    [violation] = refused.json()["violations"]
    assert violation["rule"] == "job_shots" and "max_job_shots" in violation["message"]

    accepted = post(stack, job)
    assert accepted.status_code == 200, accepted.text
    job_id = accepted.json()["job_id"]
    final = stack.wait_final("fermions", job_id, timeout=400)
    assert final["status"] == "DONE", final
    result = stack.result("fermions", job_id)
    assert [len(r["data"]["memory"]) for r in result["results"]] == [
        job[f"experiment_{i}"]["shots"] for i in range(experiments)]


def test_a_publish_the_broker_refuses_ends_the_job_error_and_frees_the_limit(
        stack: Stack, management) -> None:
    vhost = stack.vhost  # type: ignore[attr-defined]
    small = {"experiment_0": {"instructions": [["load", [0], []], ["measure", [0], []]],
                              "num_wires": 8, "shots": 2, "wire_order": "interleaved"}}
    alice, bob = stack.token, stack.add_user("bob")
    stack.token = alice
    policy = f"/policies/{quote(vhost, safe='')}/test-refuse-jobs"
    # The spooler's job queue is full after one job: the broker nacks every further publish.
    stack.kill("spooler")
    management.request("PUT", policy, {
        "pattern": f"^{SPOOLER_JOBS.name.replace('.', '[.]')}$", "apply-to": "queues",
        "priority": 100, "definition": {"max-length": 0, "overflow": "reject-publish"}})
    try:
        # Policies reach a queue asynchronously; the management API is the only way to know.
        wait_until(lambda: management.queue(vhost, SPOOLER_JOBS.name).get("policy")
                   == "test-refuse-jobs", what="the refusing policy on the job queue")
        first = post(stack, small, bob)
        assert first.status_code == 200, first.text  # a quorum queue refuses once over its length
        refused = post(stack, small, alice)
        assert refused.status_code == 503, refused.text
        body = refused.json()
        assert body["status"] == "ERROR" and refused.headers["Retry-After"]
        status = stack.status("fermions", body["job_id"], alice)
        assert status["status"] == "ERROR", status
        assert "did not take the job" in status["error_message"], status
    finally:
        management.request("DELETE", policy)
    stack.restart("spooler")
    # With SHOTLINE_MAX_UNFINISHED_JOBS=1 alice's next job is admitted only if the refused one
    # no longer counts; it then completes, and so does bob's.
    accepted = post(stack, small, alice)
    assert accepted.status_code == 200, accepted.text
    assert stack.wait_final("fermions", accepted.json()["job_id"])["status"] == "DONE"
    stack.token = bob
    assert stack.wait_final("fermions", first.json()["job_id"])["status"] == "DONE"
