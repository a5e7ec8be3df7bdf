"""The OpenAPI 3.1 document of the ingest API, built from the contracts' pydantic models."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from contracts.configuration import BackendConfiguration
from contracts.job import JobPayload
from contracts.result import FailedResult, JobResult
from contracts.status import StatusDict
from contracts.validation import Violation

#: The document, built once per application by ``create_app``.
OPENAPI = web.AppKey("openapi", dict)
REF = "#/components/schemas/{model}"
_ERRORS = {
    400: "Malformed request: unparseable JSON, missing job or job_id, bad filter or cursor.",
    401: "Missing, unknown or revoked token.",
    404: "Unknown backend, or no such job for this user (another user's job looks the same).",
    409: "Idempotency-Key reused with another job, or cancel of a finished job.",
    413: "Request body larger than the configured limit.",
    415: "Content type is neither JSON nor form data.",
    422: "The job breaks a backend rule; `violations` names experiment, instruction and rule.",
    429: "Over the per-user submission rate or unfinished-job limit; see Retry-After.",
    503: "The message broker is unreachable; nothing was queued.",
}


def _hoist(models: list[type[BaseModel]]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF, mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in codes:
        response = _json(_ref("ErrorBody"), _ERRORS[code])
        if code in (429, 503):
            response["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
        out[str(code)] = response
    return out


def _query(name: str, description: str, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": "string", "maxLength": 256, **schema}}


_TOKEN = _query("token", "API token (v2); `password` is accepted as its legacy name.")
_USERNAME = _query("username", "Ignored; sent by qiskit-cold-atom and pennylane-ls.")
_JOB_ID = _query("job_id", "The job id (or send `json={\"job_id\": ..}`).",
                 pattern="^[A-Za-z0-9_-]{1,64}$")
_JSON = _query("json", 'Legacy: `{"job_id": "..."}` as a JSON string.', maxLength=200)
_IDEMPOTENCY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Same key and same job: the same job id; same key, other job: 409.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,255}$"},
}


def _backend_param(names: list[str]) -> dict[str, Any]:
    return {"name": "backend", "in": "path", "required": True,
            "description": "Display name (`fermions`) or full name (`shotline_fermions_simulator`).",
            "schema": {"type": "string", "enum": names}}


def _backend_ops(names: list[str], legacy: bool) -> dict[str, Any]:
    prefix, tail = ("/api/{backend}", "/") if legacy else ("/api/v2/{backend}", "")
    tag = "legacy" if legacy else "v2"
    status_params = [_JOB_ID, _JSON, _TOKEN, _USERNAME, _query("password", "Legacy token field.")]
    if legacy:
        body = {"application/x-www-form-urlencoded": {"schema": _ref("LegacyJobForm")}}
    else:
        body = {"application/json": {"schema": {"anyOf": [_ref("JobRequestV2"),
                                                          _ref("JobRequestBearer")]}}}
    ops: dict[str, Any] = {
        f"{prefix}/get_config{tail}": {"get": {
            "tags": [tag], "summary": "Backend configuration (qiskit BackendConfiguration).",
            "responses": {"200": _json(_ref("BackendConfiguration"), "The configuration."),
                          **_errors(404)}}},
        f"{prefix}/post_job{tail}": {"post": {
            "tags": [tag], "summary": "Submit a job; answers once it is queued.",
            "parameters": [_IDEMPOTENCY],
            "requestBody": {"required": True, "content": body},
            "responses": {"200": _json(_ref("StatusDict"), "Accepted and queued."),
                          **_errors(400, 401, 404, 409, 413, 415, 422, 429, 503)}}},
        f"{prefix}/get_job_status{tail}": {"get": {
            "tags": [tag], "summary": "The status dict (uppercase status).",
            "parameters": status_params,
            "responses": {"200": _json(_ref("StatusDict"), "Current status."),
                          **_errors(400, 401, 404)}}},
        f"{prefix}/get_job_result{tail}": {"get": {
            "tags": [tag],
            "summary": 'The result ("finished"), lowercase "error" if it failed, else the status.',
            "parameters": status_params,
            "responses": {"200": _json({"anyOf": [_ref("JobResult"), _ref("FailedResult"),
                                                  _ref("StatusDict")]}, "Result or status."),
                          **_errors(400, 401, 404)}}},
    }
    if not legacy:
        ops[f"{prefix}/get_backend_status"] = {"get": {
            "tags": [tag], "summary": "Whether the backend accepts jobs, and its queue length.",
            "responses": {"200": _json(_ref("BackendStatus"), "Backend status."), **_errors(404)}}}
        ops[f"{prefix}/cancel_job"] = {"post": {
            "tags": ["control"], "summary": "Cancel a waiting or running job.",
            "parameters": [_JOB_ID, _JSON, _TOKEN],
            "responses": {"202": _json(_ref("StatusDict"), "Cancel requested."),
                          **_errors(400, 401, 404, 409, 503)}}}
    for item in ops.values():
        for op in item.values():
            op["parameters"] = [_backend_param(names), *op.get("parameters", [])]
    return ops


def _extra_schemas() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "ErrorBody": {
            "type": "object", "required": ["status", "detail", "error_message"],
            "properties": {"job_id": text, "status": {"enum": ["ERROR", "error"]},
                           "detail": text, "error_message": text,
                           "violations": {"type": "array", "items": _ref("Violation")}},
        },
        "JobRequestV2": {
            "type": "object", "required": ["job"],
            "properties": {"job": {"type": "string", "description": "The job as a JSON string."},
                           "token": text, "username": text}},
        "JobRequestBearer": {
            "type": "object", "required": ["payload"],
            "description": "Send with `Authorization: Bearer <token>`.",
            "properties": {"payload": _ref("JobPayload")}},
        "LegacyJobForm": {
            "type": "object", "required": ["json"],
            "properties": {"json": {"type": "string", "description": "The job as a JSON string."},
                           "username": text, "password": {"type": "string",
                                                          "description": "The API token."}}},
        "BackendStatus": {
            "type": "object",
            "required": ["backend_name", "backend_version", "operational", "pending_jobs",
                         "status_msg"],
            "properties": {"backend_name": text, "backend_version": text,
                           "operational": {"type": "boolean"},
                           "pending_jobs": {"type": "integer", "minimum": 0}, "status_msg": text}},
        "JobList": {
            "type": "object", "required": ["jobs", "next_cursor"],
            "properties": {
                "jobs": {"type": "array", "items": {
                    "type": "object",
                    "required": ["job_id", "backend", "backend_name", "status", "detail",
                                 "error_message", "created_at", "updated_at"],
                    "properties": {k: text for k in ("job_id", "backend", "backend_name",
                                                     "status", "detail", "error_message",
                                                     "created_at", "updated_at")}}},
                "next_cursor": {"type": ["string", "null"]}}},
    }


def build_openapi(backend_names: list[str]) -> dict[str, Any]:
    """The document for a server serving ``backend_names`` (display and full names)."""
    schemas = _hoist([StatusDict, BackendConfiguration, JobResult, FailedResult, JobPayload,
                      Violation])
    schemas.update(_extra_schemas())
    job_param = {"name": "job_id", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}
    paths: dict[str, Any] = {
        **_backend_ops(backend_names, legacy=False),
        **_backend_ops(backend_names, legacy=True),
        "/api/v2/backends": {"get": {"tags": ["v2"], "summary": "Every backend's configuration.",
                                     "responses": {"200": _json({"type": "array", "items": _ref(
                                         "BackendConfiguration")}, "Configurations.")}}},
        "/api/v2/jobs": {"get": {
            "tags": ["control"], "summary": "The caller's jobs, newest first.",
            "parameters": [_TOKEN, _query("backend", "Only this backend."),
                           _query("status", "Only this status."),
                           _query("limit", "1..100 (default 20).", pattern="^[0-9]{1,3}$"),
                           _query("cursor", "`next_cursor` of the previous page.")],
            "responses": {"200": _json(_ref("JobList"), "A page of jobs."),
                          **_errors(400, 401, 404)}}},
        "/api/v2/jobs/{job_id}": {"delete": {
            "tags": ["control"], "summary": "Cancel a job by id.",
            "parameters": [job_param, _TOKEN],
            "responses": {"202": _json(_ref("StatusDict"), "Cancel requested."),
                          **_errors(401, 404, 409, 503)}}},
        "/healthz": {"get": {"tags": ["health"], "summary": "The process is alive.",
                             "responses": {"200": _json({"type": "object"}, "Alive.")}}},
        "/readyz": {"get": {"tags": ["health"], "summary": "Broker and store reachable.",
                            "responses": {"200": _json({"type": "object"}, "Ready."),
                                          "503": _json(_ref("ErrorBody"), "Not ready.")}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "shotline ingest", "version": "2",
                 "description": "Jobs for the cold-atom quantum simulator. Paths also accept "
                 "doubled and trailing slashes; `/api/v3/<backend>/...` is an alias of v2; "
                 "every call accepts `Authorization: Bearer <token>` instead of `token`."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
