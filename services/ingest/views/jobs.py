"""post_job, get_job_status, get_job_result for every protocol generation (v2, legacy, Bearer)."""

from __future__ import annotations

from aiohttp import web

from contracts.status import JobStatus
from services.ingest import submission
from services.ingest.context import services
from services.ingest.errors import job_not_found
from services.ingest.presentation import result_body, status_dict
from services.ingest.wire import idempotency_key, job_id_of, pick_token, read_submission
from services.ingest.store import StoredJob
from services.ingest.views.common import authenticate, backend_of


async def post_job(request: web.Request) -> web.Response:
    svc = services(request)
    spec = backend_of(svc, request)
    key = idempotency_key(request)
    async with submission.admission(svc):  # 503 before the body is read when the line is full
        bearer = pick_token(request)  # the Authorization header only
        early = bearer is not None and key is None
        if early:
            # The token is in a header: the user and their limits are known before a byte of
            # the body is read, so a flood past its rate costs no parsing (a retry with an
            # Idempotency-Key is checked after, as it may be a replay).
            await submission.check_limits(svc, await authenticate(svc, bearer))
        sent = await read_submission(request)
        owner = await authenticate(svc, sent.token)
        job = await submission.submit(svc, owner, spec, sent.job, key, limits_checked=early)
    position = await svc.store.queue_position(job) if job.status == JobStatus.QUEUED else None
    # 200 as every earlier server answered; the job is already queued when this returns.
    return web.json_response(status_dict(job, position))


async def _own_job(request: web.Request) -> tuple[StoredJob, tuple[int, int] | None]:
    svc = services(request)
    spec = backend_of(svc, request)
    job_id = job_id_of(request)
    owner = await authenticate(svc, pick_token(request, request.query))
    job = await svc.store.get_job(job_id, owner)
    if job is None or job.backend != spec.display_name:
        raise job_not_found(job_id)
    position = await svc.store.queue_position(job) if job.status == JobStatus.QUEUED else None
    return job, position


async def get_job_status(request: web.Request) -> web.Response:
    # 200 also for an ERROR job (qlued said 406): qiskit's error_message() reads the body
    # and status() maps "ERROR" itself; pennylane-ls raises on "ERROR" with `detail`.
    job, position = await _own_job(request)
    return web.json_response(status_dict(job, position))


async def get_job_result(request: web.Request) -> web.Response:
    job, position = await _own_job(request)
    return web.json_response(result_body(job, position))
