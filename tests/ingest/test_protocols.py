"""The older protocol generations, replayed as their clients send them, and URL leniency."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import requests
from aiohttp.test_utils import TestClient

from contracts.events import JobDone
from services.ingest.events import apply_event
from services.ingest.sqlite_store import SqliteJobStore

from tests.ingest.conftest import ALICE, FERMION_JOB, ClientFactory, publisher_of, submit

# pennylane-ls SingleQuditDevice: num_wires always 1, wire_order "interleaved", angles mod 2π.
PENNYLANE_JOB = {"experiment_0": {"instructions": [["load", [0], [50]], ["rlx", [0], [1.5707963]],
                                                   ["measure", [0], []]],
                                  "num_wires": 1, "shots": 5, "wire_order": "interleaved"}}


async def in_thread(call: Any) -> requests.Response:
    return await asyncio.get_running_loop().run_in_executor(None, call)


async def test_pennylane_ls_protocol_replayed(api: TestClient, store: SqliteJobStore) -> None:
    # pennylane_ls/django_device.py with url_prefix "http://host/api/singlequdit/"
    prefix = str(api.make_url("/api/singlequdit/"))
    creds = {"username": "alice", "password": ALICE}
    # Given a form-encoded post to <prefix>post_job/ with the token in `password`
    r = await in_thread(lambda: requests.post(prefix + "post_job/",
                                              data={"json": json.dumps(PENNYLANE_JOB), **creds}))
    assert r.status_code == 200, r.text
    assert r.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    job_id = r.json()["job_id"]
    # When it polls get_job_status/ with json={"job_id": ..}
    status_params = {"json": json.dumps({"job_id": job_id}), **creds}
    r = await in_thread(lambda: requests.get(prefix + "get_job_status/", params=status_params))
    assert r.status_code == 200 and r.json()["status"] == "QUEUED" and "detail" in r.json()
    # Then, once done, get_job_result/ gives results[0].data.memory
    result = {"backend_name": "shotline_singlequdit_simulator", "backend_version": "0.3",
              "job_id": job_id, "qobj_id": None, "success": True,
              "results": [{"header": {"name": "experiment_0"}, "shots": 5, "success": True,
                           "data": {"memory": ["25"] * 5}}]}
    await apply_event(store, JobDone.create("test", job_id=job_id, backend="singlequdit",
                                            result=result))
    r = await in_thread(lambda: requests.get(prefix + "get_job_status/", params=status_params))
    assert r.json()["status"] == "DONE"
    r = await in_thread(lambda: requests.get(prefix + "get_job_result/", params=status_params))
    assert r.json()["results"][0]["data"]["memory"] == ["25"] * 5
    [event] = publisher_of(api).events
    assert event.payload["experiment_0"].wire_order == "interleaved"


async def test_pennylane_fermion_device_num_wires_one(api: TestClient) -> None:
    job = {"experiment_0": {"instructions": [["load", [0], []], ["load", [7], []],
                                             ["measure", [7], []]],
                            "num_wires": 1, "shots": 2, "wire_order": "interleaved"}}
    response = await api.post("/api/fermions/post_job/",
                              data={"json": json.dumps(job), "username": "alice", "password": ALICE})
    assert response.status == 200, await response.text()


async def test_qiskit_error_message_sends_json_param(api: TestClient) -> None:
    # ColdAtomJob.error_message(): GET get_job_status with json={"job_id":..} and `token`
    job_id = await submit(api)
    response = await api.get("/api/v2/fermions/get_job_status",
                             params={"json": json.dumps({"job_id": job_id}), "username": "alice",
                                     "token": ALICE})
    assert response.status == 200 and (await response.json())["error_message"] == "None"


@pytest.mark.parametrize("path", [
    "/api/v2/fermions/get_config",
    "/api/v2/fermions/get_config/",
    "/api/v2/fermions//get_config",
    "/api/v2/shotline_fermions_simulator//get_config",
    "/api/v2//fermions//get_config//",
    "/api/fermions/get_config/",
    "/api/v3/fermions/get_config",
])
async def test_trailing_and_double_slashes(api: TestClient, path: str) -> None:
    response = await api.get(path)
    assert response.status == 200
    assert (await response.json())["backend_name"] == "shotline_fermions_simulator"


async def test_post_with_double_slash_is_not_redirected(api: TestClient) -> None:
    body = {"job": json.dumps(FERMION_JOB), "token": ALICE}
    response = await api.post("/api/v2/fermions//post_job", json=body, allow_redirects=False)
    assert response.status == 200


async def test_l0_shots_api(make_client: ClientFactory) -> None:
    client = await make_client(shots_backend="singlequdit")
    response = await client.post("/shots/post_job/", data={
        "json": json.dumps(PENNYLANE_JOB), "username": "alice", "password": ALICE})
    job_id = (await response.json())["job_id"]
    status = await client.get("/shots/get_job_status/", params={
        "json": json.dumps({"job_id": job_id}), "username": "alice", "password": ALICE})
    assert (await status.json())["status"] == "QUEUED"


async def test_legacy_integer_job_id_in_json(api: TestClient) -> None:
    response = await api.get("/api/fermions/get_job_status/",
                             params={"json": json.dumps({"job_id": 56}), "password": ALICE})
    assert response.status == 404 and (await response.json())["job_id"] == "56"


async def test_docs_and_openapi(api: TestClient) -> None:
    doc = await (await api.get("/api/v2/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    assert "/api/v2/{backend}/post_job" in doc["paths"] and "/api/{backend}/post_job/" in doc["paths"]
    page = await api.get("/api/v2/docs")
    assert page.content_type == "text/html" and "post_job" in await page.text()


async def test_health(api: TestClient) -> None:
    assert (await (await api.get("/healthz")).json())["status"] == "ok"
    assert (await (await api.get("/readyz")).json())["status"] == "ready"
