"""Reading the three client protocol generations: where the job, token and job id travel."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from services.ingest.errors import ApiError, bad_request, unauthorized
from services.ingest.tokens import MAX_TOKEN_LENGTH

JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True)
class Submission:
    """A post_job request, whatever generation sent it."""

    job: Any
    token: SecretStr | None


def parse_json_text(text: str, what: str) -> Any:
    """Decode JSON sent as text; 400 naming ``what`` if it is not JSON."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise bad_request(f"{what} is not valid JSON.", error_message=f"{what}: {str(exc)[:200]}")


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def pick_token(request: web.Request, *sources: Mapping[str, Any]) -> SecretStr | None:
    """The token from, in order: a Bearer header, then `token` or `password` (legacy, where
    pennylane-ls and pre-2023 qiskit-cold-atom put the token) in each source. A SecretStr from
    here on: whatever logs or prints it shows asterisks."""
    found = bearer_token(request)
    for source in sources:
        if found is not None:
            break
        for key in ("token", "password"):
            value = source.get(key)
            if isinstance(value, str) and value:
                found = value
                break
    if found is not None and len(found) > MAX_TOKEN_LENGTH:
        raise unauthorized()
    return SecretStr(found) if found is not None else None


async def read_submission(request: web.Request) -> Submission:
    """The job and token of a post_job request.

    v1/v2: JSON ``{"job": "<json string>", "token": ..}``; v3/Bearer: JSON ``{"payload": {..}}``;
    L0/L1 (pennylane-ls): form fields ``json``, ``username``, ``password``.

    Raises:
        ApiError: 415 for another content type, 400 for a body that cannot be read as a job.
    """
    ctype = request.content_type
    if ctype in JSON_TYPES:
        fields: Mapping[str, Any] = await read_json_object(request)
    elif ctype in FORM_TYPES:
        fields = await read_form(request)
    else:
        raise ApiError(415, "Unsupported content type.",
                       f"send application/json or form data, not {ctype[:100]!r}")
    for key in ("job", "payload", "json"):
        if key in fields:
            value = fields[key]
            job = parse_json_text(value, f"The `{key}` field") if isinstance(value, str) else value
            return Submission(job=job, token=pick_token(request, fields, request.query))
    raise bad_request("The request has no job.",
                      error_message="send the job as `job` (JSON string), `payload` (object) "
                      "or the form field `json`")


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """A JSON object body; 400 for bytes that are not UTF-8 JSON or not an object."""
    try:
        text = (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("The request body is not UTF-8.") from None
    body = parse_json_text(text, "The request body")
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


async def read_form(request: web.Request) -> dict[str, str]:
    """Text fields of a form body (file parts are ignored); 400 if it cannot be parsed."""
    try:
        form = await request.post()
    except ValueError as exc:  # aiohttp: e.g. multipart without a boundary
        raise bad_request("The form data cannot be read.", error_message=str(exc)[:200]) from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


def job_id_of(request: web.Request, body: Mapping[str, Any] | None = None) -> str:
    """The job id from the `job_id` parameter or from inside the `json` parameter.

    qiskit-cold-atom's error_message() still sends ``json={"job_id": ..}`` while its other
    calls send ``job_id``; legacy ids may be JSON numbers (qsimsim sent 56).

    Raises:
        ApiError: 400 when no job id is given or it is not a plausible id.
    """
    raw: Any = None
    for source in (request.query, body or {}):
        if "job_id" in source:
            raw = source["job_id"]
            break
        if "json" in source:
            inner = source["json"]
            decoded = parse_json_text(inner, "The `json` parameter") if isinstance(inner, str) else inner
            if isinstance(decoded, dict) and "job_id" in decoded:
                raw = decoded["job_id"]
                break
    if raw is None:
        raise bad_request("No job_id given.",
                          error_message="send `job_id` or `json={\"job_id\": ...}`")
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise bad_request("job_id must be a string.")
    job_id = str(raw)
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise bad_request("job_id is malformed.",
                          error_message="a job id is 1-64 characters of A-Z a-z 0-9 _ -")
    return job_id


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip().strip('"')  # the IETF draft sends it as a structured-field string
    # Printable ASCII only: the key is stored and compared as text, and a header of raw
    # non-ASCII bytes has no single meaning.
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not all(" " <= c <= "~" for c in key):
        raise bad_request("Idempotency-Key must be 1-255 printable ASCII characters.")
    return key
