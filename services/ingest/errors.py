"""API errors and the one JSON body every error answers with: {status, detail, error_message}."""

from __future__ import annotations

from typing import Any

from aiohttp import web

#: Status value of an error body. qiskit-cold-atom's status() reads body["status"] before it
#: looks at the HTTP code (a body without it is a KeyError) and maps "ERROR" to JobStatus.ERROR.
ERROR = "ERROR"
#: get_job_result errors use lowercase: qiskit's result() loop ignores the HTTP code and stops
#: only on "finished" or "error"; "ERROR" would make it poll forever.
RESULT_ERROR = "error"


class ApiError(Exception):
    """Raised anywhere below a view; the error middleware renders it."""

    def __init__(
        self,
        http_status: int,
        detail: str,
        error_message: str | None = None,
        *,
        job_id: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.http_status = http_status
        self.detail = detail
        self.error_message = error_message or detail
        self.job_id = job_id
        self.headers = headers or {}
        self.extra = extra or {}


def error_body(
    status_value: str, detail: str, error_message: str, job_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if job_id is not None:
        body["job_id"] = job_id
    body.update(status=status_value, detail=detail, error_message=error_message)
    body.update(extra or {})
    return body


def bad_request(detail: str, **kw: Any) -> ApiError:
    return ApiError(400, detail, **kw)


def unauthorized() -> ApiError:
    # The same words as qlued, for every way credentials can be wrong: nothing to probe.
    return ApiError(401, "Invalid credentials!", "missing, unknown or revoked token",
                    headers={"WWW-Authenticate": 'Bearer realm="shotline"'})


def job_not_found(job_id: str) -> ApiError:
    # Identical for an unknown id and another user's job, so ids cannot be probed.
    return ApiError(404, "Unknown job!", f"no job {job_id!r} for this user on this backend",
                    job_id=job_id)


def http_error_body(exc: web.HTTPException) -> tuple[int, str, str]:
    """(code, detail, error_message) for aiohttp's own errors (404, 405, 413, ...)."""
    detail = {
        404: "Not found.",
        405: "Method not allowed.",
        413: "Request body too large.",
    }.get(exc.status, exc.reason)
    return exc.status, detail, exc.text or exc.reason
