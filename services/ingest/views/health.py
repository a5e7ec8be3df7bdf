"""Liveness (/healthz: the process answers) and readiness (/readyz: broker and store answer)."""

from __future__ import annotations

import structlog
from aiohttp import web

from services.ingest.context import services
from services.ingest.errors import ERROR, error_body

log = structlog.get_logger(__name__)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    svc = services(request)
    broker = await svc.broker_ready()
    try:
        await svc.store.ping()
        store = True
    except Exception as exc:  # any store failure means "not ready", with the reason logged
        log.warning("store_unavailable", error=repr(exc)[:300])
        store = False
    checks = {"broker": broker, "store": store}
    if broker and store:
        return web.json_response({"status": "ready", **checks})
    failing = ", ".join(name for name, ok in checks.items() if not ok)
    body = error_body(ERROR, "Not ready.", f"unreachable: {failing}", extra=checks)
    return web.json_response(body, status=503)
