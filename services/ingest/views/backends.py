"""get_config, get_backend_status and the backend list; these need no credentials (as in qlued)."""

from __future__ import annotations

from aiohttp import web

from contracts.configuration import backend_configuration
from services.ingest.context import services
from services.ingest.views.common import backend_of


async def get_config(request: web.Request) -> web.Response:
    svc = services(request)
    spec = backend_of(svc, request)
    return web.json_response(backend_configuration(spec, svc.settings.base_url))


async def get_backend_status(request: web.Request) -> web.Response:
    svc = services(request)
    spec = backend_of(svc, request)
    operational = await svc.broker_ready()
    pending = await svc.store.count_pending(spec.display_name)
    return web.json_response({
        "backend_name": spec.backend_name,
        "backend_version": spec.version,
        "operational": operational,
        "pending_jobs": pending,
        "status_msg": "accepting jobs" if operational else "the job queue is unreachable",
    })


async def list_backends(request: web.Request) -> web.Response:
    svc = services(request)
    return web.json_response(
        [backend_configuration(spec, svc.settings.base_url) for spec in svc.registry.values()]
    )
