"""One test per error path: each answers its status code with {status, detail, error_message}."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from services.ingest.sqlite_store import SqliteJobStore

from tests.ingest.conftest import ALICE, BOB, FERMION_JOB, ClientFactory, submit, v2_body

POST = "/api/v2/fermions/post_job"
STATUS = "/api/v2/fermions/get_job_status"


async def error_of(response: ClientResponse, code: int, status: str = "ERROR") -> dict[str, Any]:
    body = await response.json()
    assert response.status == code, body
    assert body["status"] == status
    assert isinstance(body["detail"], str) and isinstance(body["error_message"], str)
    return body


# -- 400 -------------------------------------------------------------------------------------
async def test_400_body_is_not_json(api: TestClient) -> None:
    response = await api.post(POST, data="{not json", headers={"Content-Type": "application/json"})
    assert "not valid JSON" in (await error_of(response, 400))["detail"]


async def test_400_body_is_not_an_object(api: TestClient) -> None:
    await error_of(await api.post(POST, json=[1, 2]), 400)


async def test_400_job_string_is_not_json(api: TestClient) -> None:
    body = await error_of(await api.post(POST, json={"job": "{oops", "token": ALICE}), 400)
    assert "`job`" in body["detail"]


async def test_400_no_job(api: TestClient) -> None:
    await error_of(await api.post(POST, json={"token": ALICE}), 400)


async def test_400_deeply_nested_job(api: TestClient) -> None:
    await error_of(await api.post(POST, json={"job": "[" * 100_000, "token": ALICE}), 400)


async def test_400_status_without_job_id(api: TestClient) -> None:
    await error_of(await api.get(STATUS, params={"token": ALICE}), 400)


async def test_400_malformed_job_id(api: TestClient) -> None:
    await error_of(await api.get(STATUS, params={"job_id": "../../etc", "token": ALICE}), 400)


async def test_400_json_param_is_not_json(api: TestClient) -> None:
    await error_of(await api.get(STATUS, params={"json": "{", "token": ALICE}), 400)


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "101"}, {"limit": "x"},
                                   {"cursor": "!!"}, {"cursor": "eyJiIjogMX0"}, {"status": "LOST"}])
async def test_400_bad_listing_parameters(api: TestClient, query: dict[str, str]) -> None:
    await error_of(await api.get("/api/v2/jobs", params={"token": ALICE, **query}), 400)


async def test_400_idempotency_key_too_long(api: TestClient) -> None:
    response = await api.post(POST, json=v2_body(FERMION_JOB), headers={"Idempotency-Key": "k" * 256})
    await error_of(response, 400)


# -- 401 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("token", [None, "wrong", "x" * 300])
async def test_401_bad_token(api: TestClient, token: str | None) -> None:
    body: dict[str, Any] = {"job": json.dumps(FERMION_JOB)}
    if token is not None:
        body["token"] = token
    response = await api.post(POST, json=body)
    assert (await error_of(response, 401))["detail"] == "Invalid credentials!"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_401_revoked_token(api: TestClient, store: SqliteJobStore) -> None:
    await store.revoke_user("alice")
    await error_of(await api.get("/api/v2/jobs", params={"token": ALICE}), 401)


# -- 404 -------------------------------------------------------------------------------------
async def test_404_unknown_backend(api: TestClient) -> None:
    body = await error_of(await api.get("/api/v2/bosons/get_config"), 404)
    assert body["detail"] == "Unknown back-end!"


async def test_404_other_users_job_looks_unknown(api: TestClient) -> None:
    job_id = await submit(api)
    theirs = await error_of(await api.get(STATUS, params={"job_id": job_id, "token": BOB}), 404)
    unknown = await error_of(await api.get(STATUS, params={"job_id": "f" * 24, "token": BOB}), 404)
    assert (theirs["detail"], theirs["status"]) == (unknown["detail"], unknown["status"])
    assert theirs["error_message"].replace(job_id, "X") == unknown["error_message"].replace("f" * 24, "X")
    await error_of(await api.delete(f"/api/v2/jobs/{job_id}", params={"token": BOB}), 404)


async def test_404_job_of_another_backend(api: TestClient) -> None:
    job_id = await submit(api)
    response = await api.get("/api/v2/rydberg/get_job_status", params={"job_id": job_id, "token": ALICE})
    await error_of(response, 404)


async def test_404_unknown_route(api: TestClient) -> None:
    await error_of(await api.get("/api/v9/nothing/here"), 404)


async def test_404_shots_api_disabled(api: TestClient) -> None:
    await error_of(await api.get("/shots/get_config/"), 404)


# -- 405, 409, 413, 415, 422, 429 ---------------------------------------------------------
async def test_405_wrong_method(api: TestClient) -> None:
    response = await api.get(POST)
    await error_of(response, 405)
    assert "POST" in response.headers["Allow"]


async def test_409_cancel_finished_job(api: TestClient, store: SqliteJobStore) -> None:
    job_id = await submit(api)
    await store.reject_job(job_id, "for the test")
    response = await api.post("/api/v2/fermions/cancel_job", json={"job_id": job_id, "token": ALICE})
    assert (await error_of(response, 409))["job_id"] == job_id


async def test_413_body_too_large(make_client: ClientFactory) -> None:
    client = await make_client(max_body_bytes=4096)
    response = await client.post(POST, json={"job": "x" * 10_000, "token": ALICE})
    await error_of(response, 413)


async def test_415_wrong_content_type(api: TestClient) -> None:
    response = await api.post(POST, data=b"job", headers={"Content-Type": "text/plain"})
    await error_of(response, 415)


async def test_422_names_experiment_instruction_and_rule(api: TestClient) -> None:
    job = {"experiment_0": FERMION_JOB["experiment_0"],
           "experiment_1": {"instructions": [["load", [0], []], ["fhop", [0, 1, 2, 5], [0.5]]],
                            "num_wires": 8, "shots": 2, "wire_order": "interleaved"}}
    body = await error_of(await api.post(POST, json=v2_body(job)), 422)
    [violation] = body["violations"]
    assert violation["experiment"] == "experiment_1" and violation["instruction_index"] == 1
    assert violation["rule"] == "coupling_map"
    assert "experiment_1, instruction 1 (fhop)" in body["error_message"]


async def test_429_submission_rate(make_client: ClientFactory) -> None:
    client = await make_client(submit_rate=0.01, submit_burst=2)
    for _ in range(2):
        await submit(client)
    response = await client.post(POST, json=v2_body(FERMION_JOB))
    await error_of(response, 429)
    assert int(response.headers["Retry-After"]) >= 1
    # The limit is per user: bob is not affected by alice's submissions
    await submit(client, token=BOB)


async def test_429_unfinished_jobs(make_client: ClientFactory, store: SqliteJobStore) -> None:
    client = await make_client(max_unfinished_jobs=2, unfinished_retry_after_s=7)
    first = await submit(client)
    await submit(client)
    response = await client.post(POST, json=v2_body(FERMION_JOB))
    assert (await error_of(response, 429))["detail"] == "Too many unfinished jobs."
    assert response.headers["Retry-After"] == "7"
    # A finished job frees a place
    await store.reject_job(first, "done with it")
    await submit(client)


async def test_429_does_not_hide_an_idempotent_replay(make_client: ClientFactory) -> None:
    client = await make_client(max_unfinished_jobs=1)
    first = await submit(client, headers={"Idempotency-Key": "a"})
    assert await submit(client, headers={"Idempotency-Key": "a"}) == first


# -- 500, 503 ---------------------------------------------------------------------------------
async def test_500_unexpected_error_is_json(make_client: ClientFactory, store: SqliteJobStore,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    client = await make_client()

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(store, "get_job", broken)
    response = await client.get(STATUS, params={"job_id": "a" * 24, "token": ALICE})
    body = await error_of(response, 500)
    assert "secret" not in json.dumps(body)


async def test_500_on_result_poll_is_lowercase_error(make_client: ClientFactory,
                                                     store: SqliteJobStore,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    client = await make_client()

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(store, "get_job", broken)
    response = await client.get("/api/v2/fermions/get_job_result",
                                params={"job_id": "a" * 24, "token": ALICE})
    await error_of(response, 500, status="error")


async def test_result_errors_stop_qiskit_polling(api: TestClient) -> None:
    # qiskit's result() ignores HTTP codes and only stops on "finished"/"error"
    response = await api.get("/api/v2/fermions/get_job_result",
                             params={"job_id": "a" * 24, "token": ALICE})
    await error_of(response, 404, status="error")


async def test_503_readyz_when_broker_is_down(make_client: ClientFactory) -> None:
    async def down() -> bool:
        return False

    client = await make_client(broker_ready=down)
    body = await error_of(await client.get("/readyz"), 503)
    assert body["broker"] is False and body["store"] is True
    status = await (await client.get("/api/v2/fermions/get_backend_status")).json()
    assert status["operational"] is False
