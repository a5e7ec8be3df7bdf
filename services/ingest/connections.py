"""Per-connection bounds of the HTTP server: connections per address, request-head bytes, and
the deadlines for reading a request's head and body.

aiohttp bounds each header field (``max_field_size``) but not a head's total size, and it
waits for a head or a body as long as the client keeps the connection open: 30 connections
trickling 120 headers of 64 KiB each held 460 MB. Here every connection costs at most
``max_head_bytes`` of buffered head, for at most ``head_timeout_s``, and a client address holds
at most ``max_connections_per_address`` of them.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from services.ingest.errors import ERROR, error_body
from services.ingest.settings import IngestSettings

log = structlog.get_logger(__name__)
#: After an early answer (408, 429, 431), input is read and dropped this long before the
#: connection closes, so the client reads the answer instead of a reset (a close with unread
#: input makes the kernel send RST, which can discard the answer in the client's buffer).
LINGER_S = 2.0
#: The most a refused connection (over the per-address cap) waits for its request head before
#: it is answered 429 anyway: the answer comes after the head so the client reads it.
REFUSAL_WAIT_S = 2.0


class BodyTimeout(TimeoutError):
    """The request body did not arrive within the body deadline (the error middleware: 408)."""


@dataclass(frozen=True)
class ConnectionLimits:
    """What one connection may cost; built from the ingest settings."""

    max_head_bytes: int
    head_timeout_s: float
    body_timeout_s: float
    max_connections_per_address: int


def connection_limits(settings: IngestSettings) -> ConnectionLimits:
    return ConnectionLimits(
        max_head_bytes=settings.http_max_head_bytes,
        head_timeout_s=settings.http_head_timeout_s,
        body_timeout_s=settings.http_body_timeout_s,
        max_connections_per_address=settings.http_max_connections_per_address,
    )


def early_answer(status: int, reason: str, detail: str, message: str,
                 retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 response with the JSON error body, written before any request exists
    (so neither the middleware nor ``on_response_prepare`` runs: the same headers by hand)."""
    body = json.dumps(error_body(ERROR, detail, message)).encode()
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json; charset=utf-8",
            f"Content-Length: {len(body)}", "Connection: close",
            "X-Content-Type-Options: nosniff", "Cache-Control: no-store"]
    if retry_after is not None:
        head.append(f"Retry-After: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class GuardedHandler(RequestHandler):
    """aiohttp's connection protocol with the head budget, the two deadlines and refusals."""

    def __init__(self, manager: GuardedServer, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._limits = limits
        self._head_bytes = 0
        self._head_tail = b""  # the last bytes of the head so far: its end may span chunks
        self._head_timer: asyncio.TimerHandle | None = None
        self._body: Any = None  # the payload of the last request whose head was parsed
        self._body_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._answered = False

    # -- asyncio protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        manager = self._manager
        assert isinstance(manager, GuardedServer)
        if not manager.admits(self):
            self._refused = True
            self._head_timer = self._loop.call_later(REFUSAL_WAIT_S, self._refuse)
            return
        # A connection that never sends a byte is held no longer than one that trickles.
        self._head_timer = self._loop.call_later(self._limits.head_timeout_s, self._head_too_slow)

    def connection_lost(self, exc: BaseException | None) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._answered:
            return  # lingering after an early answer: dropped
        if self._refused:
            self._refuse()
            return
        if self._body is None or self._body.is_eof():
            if self._head_timer is None:
                self._head_timer = self._loop.call_later(
                    self._limits.head_timeout_s, self._head_too_slow)
            # Only the head counts: the chunk that ends it may carry the start of the body.
            seen = self._head_tail + data
            end = seen.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end + 4 - len(self._head_tail)
            self._head_tail = seen[-3:]
            if self._head_bytes > self._limits.max_head_bytes:
                self._answer(early_answer(
                    431, "Request Header Fields Too Large", "Request head too large.",
                    f"the request line and headers are over {self._limits.max_head_bytes} bytes"))
                return
        parsed = self._request_count
        super().data_received(data)
        if self._request_count > parsed:
            self._head_parsed()
        elif self._body is not None and self._body.is_eof() and self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    # -- deadlines --------------------------------------------------------------------------
    def _head_parsed(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._head_bytes, self._head_tail = 0, b""
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._body = self._messages[-1][1] if self._messages else None
        if self._body is not None and not self._body.is_eof():
            self._body_timer = self._loop.call_later(self._limits.body_timeout_s, self._body_too_slow)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        log.info("http_head_timeout", peer=self._manager_address())
        self._answer(early_answer(
            408, "Request Timeout", "Request timeout.",
            f"the request head did not arrive within {self._limits.head_timeout_s:g} s"))

    def _body_too_slow(self) -> None:
        # The handler reading the body gets BodyTimeout (the middleware answers 408); a body
        # nobody reads ends aiohttp's lingering read the same way, and the connection closes.
        self._body_timer = None
        if self._body is not None and not self._body.is_eof():
            log.info("http_body_timeout", peer=self._manager_address())
            self._body.set_exception(BodyTimeout(
                f"the request body did not arrive within {self._limits.body_timeout_s:g} s"))

    def _refuse(self) -> None:
        cap = self._limits.max_connections_per_address
        log.info("http_connection_refused", peer=self._manager_address(), limit=cap)
        self._answer(early_answer(
            429, "Too Many Requests", "Too many connections.",
            f"this address already holds {cap} open connections; close some and retry",
            retry_after=1))

    def _answer(self, response: bytes) -> None:
        """Answer before (or instead of) a request, then linger and close."""
        self._answered = True
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
        transport = self.transport
        if transport is None:
            return
        if not self._request_in_progress:  # never interleave with a response being written
            transport.write(response)
            if transport.can_write_eof():
                transport.write_eof()
        self._loop.call_later(LINGER_S, self.force_close)

    def _manager_address(self) -> str | None:
        manager = self._manager
        return manager.address_of(self) if isinstance(manager, GuardedServer) else None

    # -- aiohttp's own errors (a malformed request or a field over max_field_size) ----------
    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None) -> web.StreamResponse:
        # aiohttp's default answers text/plain and logs the offending line, which can hold a
        # token; here the JSON error body, and only the exception's class is logged.
        log.info("http_request_refused", status=status, error=type(exc).__name__ if exc else None)
        if isinstance(exc, LineTooLong):
            code, detail = 431, "Request line or header too long."
            text = "the request line and each header field are limited to 8190 bytes"
        elif isinstance(exc, (BadHttpMessage, HttpProcessingError)):
            code, detail, text = 400, "Malformed HTTP request.", "the request is not valid HTTP/1.1"
        else:
            code, detail, text = status, "Internal server error.", "the server failed unexpectedly"
        response = web.json_response(error_body(ERROR, detail, text), status=code,
                                     headers={"X-Content-Type-Options": "nosniff",
                                              "Cache-Control": "no-store"})
        response.force_close()
        return response


class GuardedServer(web.Server):
    """aiohttp's server, making ``GuardedHandler`` connections and counting them per address."""

    def __init__(self, plain: web.Server, limits: ConnectionLimits) -> None:
        super().__init__(plain.request_handler, request_factory=plain.request_factory,
                         handler_cancellation=plain.handler_cancellation,
                         loop=plain._loop, **plain._kwargs)
        self.limits = limits
        self._address: dict[RequestHandler, str] = {}
        self._per_address: Counter[str] = Counter()

    def __call__(self) -> GuardedHandler:
        return GuardedHandler(self, limits=self.limits, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        self._address[handler] = address
        self._per_address[address] += 1

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        address = self._address.pop(handler, None)
        if address is not None:
            self._per_address[address] -= 1
            if self._per_address[address] <= 0:
                del self._per_address[address]

    def admits(self, handler: RequestHandler) -> bool:
        address = self._address.get(handler)
        return address is None or self._per_address[address] <= self.limits.max_connections_per_address

    def address_of(self, handler: RequestHandler) -> str | None:
        return self._address.get(handler)


class GuardedRunner(web.AppRunner):
    """``web.AppRunner`` whose server is a ``GuardedServer``."""

    def __init__(self, app: web.Application, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._limits = limits

    async def _make_server(self) -> web.Server:
        return GuardedServer(await super()._make_server(), self._limits)
