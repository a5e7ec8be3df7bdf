"""No secret in any log: a running stack under a broker user with its own password serves a
job while clients disconnect mid-body, mid-validation and mid-answer, send wrong tokens and
trickle; afterwards no service's log holds a token or the broker password."""

from __future__ import annotations

import json
import secrets
import socket
import struct
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.conftest import AMQP_BASE
from tests.hardening.test_validation_flood import hostile_job
from tests.support.stack import Stack

pytestmark = [pytest.mark.rabbit, pytest.mark.e2e]
JOB = {"experiment_0": {"instructions": [["load", [0], []], ["measure", [0], []]],
                        "num_wires": 8, "shots": 3, "wire_order": "interleaved"}}


def reset(sock: socket.socket) -> None:
    """Close with an RST, as a client that vanishes does (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def hostile_disconnects(port: int, token: str) -> None:
    def connect() -> socket.socket:
        return socket.create_connection(("127.0.0.1", port), timeout=10)

    body = json.dumps({"job": json.dumps(JOB), "token": token}).encode()
    # Mid-body: the token has arrived, the rest of the body never does.
    sock = connect()
    sock.sendall(b"POST /api/v2/fermions/post_job HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (len(body) * 4)
                 + body)
    reset(sock)
    # Mid-validation: a ~2 MB job with a Bearer token, gone before the answer.
    big = json.dumps({"payload": hostile_job()}).encode()
    sock = connect()
    sock.sendall(b"POST /api/v3/fermions/post_job HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                 + token.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: %d"
                 b"\r\n\r\n" % len(big) + big)
    reset(sock)
    # Mid-answer, with the token in the query string.
    for _ in range(20):
        sock = connect()
        sock.sendall(f"GET /api/v2/jobs?token={token}&limit=100 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        reset(sock)
    # A trickled head holding the token, cut off.
    sock = connect()
    sock.sendall(f"GET /api/v2/jobs?token={token} HTTP/1.1\r\nAuthorization: Bea".encode())
    reset(sock)


def test_no_token_or_broker_password_in_any_log(tmp_path: Path, management) -> None:
    vhost = f"test-log-secrets-{uuid.uuid4().hex[:8]}"
    user, password = f"{vhost}-svc", f"pw-{secrets.token_hex(12)}"
    management.create_vhost(vhost)
    management.request("PUT", f"/users/{quote(user, safe='')}", {"password": password, "tags": ""})
    management.request("PUT", f"/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
                       {"configure": ".*", "write": ".*", "read": ".*"})
    base = AMQP_BASE.split("://", 1)[1].split("@", 1)[1]
    url = f"amqp://{quote(user, safe='')}:{password}@{base}/{quote(vhost, safe='')}"
    try:
        with Stack(tmp_path / "home", url) as stack:
            stack.start()
            alice = stack.add_user("alice")
            mallory = stack.add_user("mallory")
            stack.token = alice
            job_id = stack.post_job("fermions", JOB)
            hostile_disconnects(stack.http_port, mallory)
            wrong = requests.get(f"{stack.base_url}/api/v2/jobs",
                                 params={"token": mallory[:-4] + "AAAA"}, timeout=10)
            assert wrong.status_code == 401
            assert stack.wait_final("fermions", job_id)["status"] == "DONE"
            assert requests.get(f"{stack.base_url}/healthz", timeout=5).status_code == 200
            logs = {p.name: p.read_text() for p in (stack.home / "logs").glob("*.log")}
            ingest_log = logs["ingest.log"]
            # The disconnects were seen (one short line each), not silently lost.
            assert "client_disconnected" in ingest_log, ingest_log[-3000:]
        assert len(logs) == 6, sorted(logs)
        for name, text in logs.items():
            for secret in (alice, mallory, mallory[:-4] + "AAAA", password):
                assert secret not in text, f"{name} holds a secret"
            assert "request_crashed" not in text, name
    finally:
        management.delete_vhost(vhost)
        management.request("DELETE", f"/users/{quote(user, safe='')}")
