"""The response middleware: every failure, aiohttp's own included, becomes the JSON error body,
and every response carries the security headers."""

from __future__ import annotations

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from services.ingest.connections import BodyTimeout
from services.ingest.errors import ERROR, RESULT_ERROR, ApiError, error_body, http_error_body

log = structlog.get_logger(__name__)


def _status_value(request: web.Request) -> str:
    # A result poll must end on any error (see errors.RESULT_ERROR).
    return RESULT_ERROR if "get_job_result" in request.path else ERROR


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        body = error_body(_status_value(request), exc.detail, exc.error_message, exc.job_id, exc.extra)
        return web.json_response(body, status=exc.http_status, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and 2xx raised as exceptions pass through unchanged
        code, detail, message = http_error_body(exc)
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return web.json_response(
            error_body(_status_value(request), detail, message), status=code, headers=headers
        )
    except BodyTimeout as exc:
        response = web.json_response(
            error_body(_status_value(request), "Request timeout.", str(exc)), status=408)
        response.force_close()  # the rest of the body may still come: nobody reads it
        return response
    except ConnectionResetError:
        # The client went away mid-request (aiohttp's ClientConnectionResetError is one): its
        # own doing, anyone can cause it, so one short line and no traceback, and no answer.
        log.info("client_disconnected", method=request.method, path=request.path)
        raise
    except Exception:
        # Logged with the traceback; the client gets no internals. Request bodies and query
        # strings are not logged: they may hold tokens.
        log.exception("request_crashed", method=request.method, path=request.path)
        return web.json_response(
            error_body(_status_value(request), "Internal server error.",
                       "the server failed unexpectedly; the error was logged"),
            status=500,
        )


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: runs for every response, the error bodies above included."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Nearly every route takes a token (query, body or header) and a cache cannot tell which
    # request carried one, so no answer is stored; the health probes lose nothing by it.
    response.headers["Cache-Control"] = "no-store"
