"""Job control beyond the old servers: cancel (two spellings) and the caller's job listing."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiohttp import web

from contracts.status import JobStatus
from services.ingest import submission
from services.ingest.context import Services, services
from services.ingest.errors import bad_request, job_not_found
from services.ingest.presentation import listing_entry, status_dict
from services.ingest.wire import (
    JOB_ID_PATTERN, job_id_of, pick_token, read_form, read_json_object,
)
from services.ingest.store import StoredJob
from services.ingest.views.common import authenticate, backend_of

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


async def _body_fields(request: web.Request) -> dict[str, Any]:
    """Optional body of a cancel request: JSON object or form fields; empty if none."""
    if not request.body_exists:
        return {}
    if request.content_type == "application/json":
        return await read_json_object(request)
    return await read_form(request)


async def _cancel(svc: Services, job: StoredJob, owner: str) -> web.Response:
    await submission.cancel(svc, job, owner)
    updated = await svc.store.get_job(job.job_id, owner)
    assert updated is not None
    position = await svc.store.queue_position(updated) if updated.status == JobStatus.QUEUED else None
    return web.json_response(status_dict(updated, position), status=202)


async def cancel_job(request: web.Request) -> web.Response:
    """POST /api/v2/<backend>/cancel_job with job_id (query, JSON or form, or inside `json`)."""
    svc = services(request)
    spec = backend_of(svc, request)
    body = await _body_fields(request)
    job_id = job_id_of(request, body)
    owner = await authenticate(svc, pick_token(request, body, request.query))
    job = await svc.store.get_job(job_id, owner)
    if job is None or job.backend != spec.display_name:
        raise job_not_found(job_id)
    return await _cancel(svc, job, owner)


async def delete_job(request: web.Request) -> web.Response:
    """DELETE /api/v2/jobs/<job_id>: the same cancel, addressed by id alone."""
    svc = services(request)
    job_id = request.match_info["job_id"]
    owner = await authenticate(svc, pick_token(request, request.query))
    job = await svc.store.get_job(job_id, owner) if JOB_ID_PATTERN.fullmatch(job_id) else None
    if job is None:
        raise job_not_found(job_id)
    return await _cancel(svc, job, owner)


#: The largest value an SQLite INTEGER holds.
MAX_SEQ = 2**63 - 1


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": seq}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        before = data["before"]
    except (ValueError, TypeError, KeyError, binascii.Error, RecursionError):
        raise bad_request("cursor is not one this server issued.") from None
    # Sequence numbers are SQLite integers: anything past 2**63 - 1 was never issued.
    if isinstance(before, bool) or not isinstance(before, int) or not 0 <= before <= MAX_SEQ:
        raise bad_request("cursor is not one this server issued.")
    return before


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    # str.isdigit() admits "²" and other digits int() refuses; only ASCII 0-9 is a limit.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not 1 <= int(raw) <= MAX_LIMIT:
        raise bad_request(f"limit must be an integer in 1..{MAX_LIMIT}.")
    return int(raw)


def _status(raw: str | None) -> JobStatus | None:
    if raw is None:
        return None
    try:
        return JobStatus(raw.upper())
    except ValueError:
        raise bad_request("Unknown status filter.",
                          error_message=f"status is one of {', '.join(s.value for s in JobStatus)}")


async def list_jobs(request: web.Request) -> web.Response:
    """GET /api/v2/jobs?backend=&status=&limit=&cursor=: the caller's jobs, newest first."""
    svc = services(request)
    query = request.query
    owner = await authenticate(svc, pick_token(request, query))
    backend = svc.backend(query["backend"]).display_name if query.get("backend") else None
    limit = _limit(query.get("limit"))
    before = decode_cursor(query["cursor"]) if query.get("cursor") else None
    jobs = await svc.store.list_jobs(owner, backend=backend, status=_status(query.get("status")),
                                     before_seq=before, limit=limit + 1)
    page, more = jobs[:limit], len(jobs) > limit
    names = {name: svc.registry[name].backend_name for name in svc.registry}
    return web.json_response({
        "jobs": [listing_entry(job, names.get(job.backend, job.backend)) for job in page],
        "next_cursor": encode_cursor(page[-1].seq) if more else None,
    })

