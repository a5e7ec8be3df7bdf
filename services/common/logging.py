"""structlog configuration, done once per process: console on a TTY, JSON lines otherwise."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer

#: ``scheme://user:password@`` in any text: the password part, whatever the scheme.
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s]*@")
#: Frame locals hold tokens, request bodies and settings with the broker URL: never logged.
_tracebacks_without_locals = structlog.processors.ExceptionRenderer(
    ExceptionDictTransformer(show_locals=False))

_configured = False


def mask_url_passwords(text: str) -> str:
    """``amqp://guest:secret@host`` → ``amqp://guest:***@host``, anywhere in ``text``."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_url_passwords(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return value


def redact_url_passwords(_logger: object, _method: str, event_dict: dict) -> dict:
    """Last processor before rendering: no broker (or any) URL password reaches a log line,
    whichever field or traceback message carries it."""
    return {k: _masked(v) for k, v in event_dict.items()}


def configure_logging(service: str, level: str = "INFO", fmt: str = "auto") -> None:
    """Configure structlog and stdlib logging for this process (idempotent)."""
    global _configured
    if _configured:
        return
    _configured = True
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    def add_service(_logger: object, _method: str, event_dict: dict) -> dict:
        event_dict.setdefault("service", service)  # on every thread, not only where bound
        return event_dict

    shared = [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = (
        structlog.dev.ConsoleRenderer()
        if use_console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            # Rendered to text or dicts here, so the redaction below sees the traceback too.
            _tracebacks_without_locals if not use_console else structlog.processors.format_exc_info,
            redact_url_passwords,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # pika logs every reconnect attempt at ERROR with a traceback; ours already says it once.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("pika").setLevel(logging.CRITICAL)


def announce_ready(**details: object) -> None:
    """Log ``service_ready`` once the service takes work: what `shotline up`, tests and
    operators wait for."""
    structlog.get_logger("shotline").info("service_ready", **details)
