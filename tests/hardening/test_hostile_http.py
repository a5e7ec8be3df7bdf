"""Hostile HTTP input against a running ``shotline ingest``: every answer is a 4xx JSON body with
``status`` (never a 5xx), nothing reaches the spooler's queue, and the service stays up.
Also: one user can learn nothing about another user's jobs."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
import requests

from contracts.topology import SPOOLER_JOBS
from tests.ingest.process import IngestProcess, start_ingest

pytestmark = pytest.mark.rabbit
GOOD = {"experiment_0": {"instructions": [["load", [0], []], ["measure", [0], []]],
                         "num_wires": 8, "shots": 2, "wire_order": "interleaved"}}


@pytest.fixture(scope="module")
def ingest(tmp_path_factory, request) -> Iterator[tuple[IngestProcess, str, str]]:
    # Module-scoped: one service takes the whole corpus, which is the point of the test.
    management = request.getfixturevalue("management")
    import uuid
    from urllib.parse import quote

    from tests.conftest import AMQP_BASE, free_port

    vhost = f"test-hostile-{uuid.uuid4().hex[:8]}"
    management.create_vhost(vhost)
    url = f"{AMQP_BASE}/{quote(vhost, safe='')}"
    service = start_ingest(tmp_path_factory.mktemp("hostile"), url, free_port())
    try:
        yield service, service.add_user("alice"), url
    finally:
        service.stop()
        management.delete_vhost(vhost)


def jobs_waiting(amqp_url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return connection.channel().queue_declare(SPOOLER_JOBS.name, passive=True).method.message_count
    finally:
        connection.close()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def hostile_requests(token: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(case id, method, path, requests kwargs)."""
    v2 = "/api/v2/fermions"
    body = lambda job: {"json": {"job": job if isinstance(job, str) else json.dumps(job), "token": token}}
    exp = GOOD["experiment_0"]
    return [
        ("deeply nested job", "POST", f"{v2}/post_job", body('{"experiment_0": ' + nested(100_000) + "}")),
        ("deeply nested body", "POST", f"{v2}/post_job",
         {"data": '{"job": ' + nested(100_000) + "}", "headers": {"Content-Type": "application/json"}}),
        ("50 MB body", "POST", f"{v2}/post_job",
         {"data": b"{" + b" " * (50 * 1024 * 1024) + b"}", "headers": {"Content-Type": "application/json"}}),
        ("NaN param", "POST", f"{v2}/post_job", body('{"experiment_0": {"instructions": [["fhop", [0,1,2,3], [NaN]]], "num_wires": 8, "shots": 1}}')),
        ("Infinity shots", "POST", f"{v2}/post_job", body('{"experiment_0": {"instructions": [], "num_wires": 8, "shots": Infinity}}')),
        ("negative shots", "POST", f"{v2}/post_job", body({"experiment_0": {**exp, "shots": -5}})),
        ("huge shots", "POST", f"{v2}/post_job", body({"experiment_0": {**exp, "shots": 10**30}})),
        ("10,000 experiments", "POST", f"{v2}/post_job", body({f"experiment_{i}": exp for i in range(10_000)})),
        ("unicode name", "POST", f"{v2}/post_job", body({"experiment_0": {**exp, "instructions": [["ḟhöp\u202e", [0], []]]}})),
        ("control characters", "POST", f"{v2}/post_job", body({"experiment_0\x00\x1b[2J": exp})),
        ("path traversal job id", "GET", f"{v2}/get_job_status", {"params": {"job_id": "../../etc/passwd", "token": token}}),
        ("encoded traversal in path", "DELETE", "/api/v2/jobs/..%2F..%2Fetc%2Fpasswd", {"headers": {"Authorization": f"Bearer {token}"}}),
        ("SQL in job id", "GET", f"{v2}/get_job_result", {"params": {"job_id": "x' OR '1'='1", "token": token}}),
        ("SQL in token", "GET", f"{v2}/get_job_status", {"params": {"job_id": "abc", "token": "' OR 1=1 --"}}),
        ("SQL in listing filter", "GET", "/api/v2/jobs", {"params": {"status": "DONE'; DROP TABLE jobs;--", "token": token}}),
        ("wrong content type", "POST", f"{v2}/post_job", {"data": "job=1", "headers": {"Content-Type": "text/csv"}}),
        ("xml", "POST", f"{v2}/post_job", {"data": "<job/>", "headers": {"Content-Type": "application/xml"}}),
        ("missing job", "POST", f"{v2}/post_job", {"json": {"token": token}}),
        ("missing token", "POST", f"{v2}/post_job", {"json": {"job": json.dumps(GOOD)}}),
        ("job not a string or object", "POST", f"{v2}/post_job", body("[1, 2, 3]")),
        ("job is not JSON", "POST", f"{v2}/post_job", body("{experiment_0:")),
        ("legacy form on v2 with v2 JSON in it", "POST", f"{v2}/post_job",
         {"data": {"json": json.dumps({"job": json.dumps(GOOD)}), "password": token}}),
        ("v2 body on legacy path", "POST", "/api/fermions/post_job/", {"json": {"job": "{}", "token": token}}),
        ("legacy form with v2 token field only", "POST", "/api/fermions/post_job/",
         {"data": {"json": "{\"experiment_0\": 1}", "token": token}}),
        ("bearer with payload array", "POST", "/api/v3/fermions/post_job",
         {"json": {"payload": [1]}, "headers": {"Authorization": f"Bearer {token}"}}),
        ("unknown backend", "POST", "/api/v2/..%2F..%2Fetc/post_job", body(GOOD)),
        ("huge query string", "GET", f"{v2}/get_job_status", {"params": {"job_id": "a" * 50_000, "token": token}}),
        ("json param not JSON", "GET", f"{v2}/get_job_status", {"params": {"json": "{job_id:", "token": token}}),
        ("wrong method", "PUT", f"{v2}/post_job", body(GOOD)),
        ("negative listing limit", "GET", "/api/v2/jobs", {"params": {"limit": "-1", "token": token}}),
        ("garbage cursor", "GET", "/api/v2/jobs", {"params": {"cursor": "💣" * 10, "token": token}}),
        # Each of these three was a 500: "²".isdigit() is true, SQLite integers stop at 2**63 - 1,
        # and a header of non-ASCII bytes failed to encode.
        ("superscript digit limit", "GET", "/api/v2/jobs", {"params": {"limit": "²", "token": token}}),
        ("cursor past SQLite's integers", "GET", "/api/v2/jobs",
         {"params": {"cursor": cursor({"before": 2**64}), "token": token}}),
        ("non-ASCII Idempotency-Key", "POST", f"{v2}/post_job",
         {**body(GOOD), "headers": {"Idempotency-Key": "clé-ключ".encode()}}),
    ]


def test_hostile_corpus_gets_4xx_json_and_nothing_is_queued(ingest):
    service, token, amqp_url = ingest
    for case, method, path, kwargs in hostile_requests(token):
        try:
            reply = requests.request(method, service.base_url + path, timeout=60, **kwargs)
        except requests.ConnectionError as exc:
            # A server may close the connection on a body it refuses to read (413), but the
            # service must still be up afterwards (checked below for every case).
            reply = None
            assert "50 MB" in case, f"{case}: connection failed: {exc}"
        if reply is not None:
            assert 400 <= reply.status_code < 500, f"{case}: {reply.status_code} {reply.text[:300]}"
            body = reply.json()
            assert {"status", "detail", "error_message"} <= body.keys(), f"{case}: {body}"
            assert reply.headers["X-Content-Type-Options"] == "nosniff", case
            assert reply.headers["Cache-Control"] == "no-store", case
        assert requests.get(service.base_url + "/healthz", timeout=10).status_code == 200, f"down after {case}"
    assert service.process.poll() is None
    assert jobs_waiting(amqp_url) == 0, "a hostile request reached the spooler's queue"


def test_a_user_learns_nothing_about_another_users_jobs(ingest):
    service, alice, _ = ingest
    bob = service.add_user("bob")
    v2 = service.base_url + "/api/v2/fermions"
    job_id = requests.post(f"{v2}/post_job", json={"job": json.dumps(GOOD), "token": alice}, timeout=30).json()["job_id"]

    def as_bob(op: str, jid: str) -> tuple[int, dict[str, Any]]:
        reply = requests.get(f"{v2}/{op}", params={"job_id": jid, "token": bob}, timeout=30)
        return reply.status_code, reply.json()

    for op in ("get_job_status", "get_job_result"):
        code, body = as_bob(op, job_id)
        unknown_code, unknown_body = as_bob(op, "0" * len(job_id))
        assert code == unknown_code == 404
        # The same answer as for a job that does not exist, apart from the id echoed back.
        assert json.dumps(body).replace(job_id, "<id>") == \
               json.dumps(unknown_body).replace("0" * len(job_id), "<id>")
    listing = requests.get(service.base_url + "/api/v2/jobs", params={"token": bob}, timeout=30)
    assert listing.json()["jobs"] == []
    # Token-bearing answers are never stored by a cache nor sniffed into another type.
    assert listing.headers["Cache-Control"] == "no-store"
    assert listing.headers["X-Content-Type-Options"] == "nosniff"
    cancel = requests.delete(f"{service.base_url}/api/v2/jobs/{job_id}", headers={"Authorization": f"Bearer {bob}"}, timeout=30)
    assert cancel.status_code == 404
    assert requests.get(f"{v2}/get_job_status", params={"job_id": job_id, "token": alice}, timeout=30).json()["status"] != "CANCELLED"


def test_missing_and_revoked_tokens_are_refused(ingest, tmp_path: Path):
    service, _, _ = ingest
    from tests.ingest.process import users

    carol = service.add_user("carol")
    v2 = service.base_url + "/api/v2/fermions"
    assert requests.post(f"{v2}/post_job", json={"job": json.dumps(GOOD)}, timeout=30).status_code in (400, 401)
    assert users(service.env, "revoke", "carol").returncode == 0
    refused = requests.post(f"{v2}/post_job", json={"job": json.dumps(GOOD), "token": carol}, timeout=30)
    assert refused.status_code == 401 and refused.json()["status"] == "ERROR"
    listing = requests.get(service.base_url + "/api/v2/jobs", params={"token": carol}, timeout=30)
    assert listing.status_code == 401
