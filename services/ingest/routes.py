"""The URL table: v2 (and its Bearer-style v3 alias), legacy /api/<backend>/<op>/, /shots/, jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from itertools import count

from aiohttp import web

from services.ingest.views import backends, control, health, jobs, openapi

View = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Operations addressed to one backend: (name, method, view).
BACKEND_OPS: tuple[tuple[str, str, View], ...] = (
    ("get_config", "GET", backends.get_config),
    ("get_backend_status", "GET", backends.get_backend_status),
    ("post_job", "POST", jobs.post_job),
    ("get_job_status", "GET", jobs.get_job_status),
    ("get_job_result", "GET", jobs.get_job_result),
    ("cancel_job", "POST", control.cancel_job),
)
#: Where the per-backend operations are mounted. v3 is django-qlued's Bearer generation; its
#: requests are understood on every prefix, the alias only keeps its URLs working.
BACKEND_PREFIXES = ("/api/v2/{backend}", "/api/v3/{backend}", "/api/{backend}")


def tolerant(path: str) -> str:
    """An aiohttp pattern for ``path`` that also matches doubled and trailing slashes.

    qiskit-cold-atom appends ``/get_config`` to the URL the user saved; saved with a trailing
    slash (as the qlued devices page shows it) that makes ``.../fermions//get_config``; the
    legacy clients always end with ``/``. Redirecting instead would turn POSTs into GETs.
    """
    numbers = count()
    segments = [s for s in path.split("/") if s]
    # The first segment stays literal so aiohttp's prefix index still finds the resource.
    pattern = "/" + "".join(seg + "{_s%d:/+}" % next(numbers) for seg in segments[:-1])
    return pattern + segments[-1] + "{_t:/*}"


def setup_routes(app: web.Application, shots_api: bool) -> None:
    router = app.router
    add = lambda method, path, view, name=None: router.add_resource(  # noqa: E731
        tolerant(path), name=name).add_route(method, view)
    add("GET", "/healthz", health.healthz)
    add("GET", "/readyz", health.readyz)
    add("GET", "/api/v2/openapi.json", openapi.openapi_json, "openapi")
    add("GET", "/api/v2/docs", openapi.docs_page)
    add("GET", "/api/v2/backends", backends.list_backends)
    add("GET", "/api/v2/jobs", control.list_jobs)
    add("DELETE", "/api/v2/jobs/{job_id}", control.delete_job)
    for prefix in BACKEND_PREFIXES:
        for op, method, view in BACKEND_OPS:
            add(method, f"{prefix}/{op}", view)
    if shots_api:
        for op, method, view in BACKEND_OPS:
            add(method, f"/shots/{op}", view)
