"""Prometheus metrics shared by every service, and the HTTP endpoint that exposes them."""

from __future__ import annotations

import structlog
from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = structlog.get_logger(__name__)

MESSAGES_CONSUMED = Counter(
    "shotline_messages_consumed_total", "Messages taken from a work queue.", ["queue"])
MESSAGES_SETTLED = Counter(
    "shotline_messages_settled_total",
    "Messages by fate: acked, retried later, dead-lettered or handed back.", ["queue", "fate"])
HANDLER_SECONDS = Histogram(
    "shotline_handler_seconds", "Time a handler took for one message.", ["queue"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
PUBLISHED = Counter("shotline_events_published_total", "Events confirmed by the broker.", ["type"])
JOBS_BY_STATUS = Gauge("shotline_jobs", "Jobs in the store by status.", ["status"])
EXECUTOR_BUSY = Gauge("shotline_executor_busy_ratio", "Fraction of wall time the executor ran shots.")
ARCHIVE_BYTES = Counter("shotline_archive_bytes_total", "Bytes written to the SDS archive.")


def serve_metrics(port: int) -> None:
    """Expose ``/metrics`` on ``port`` (0: disabled, e.g. for a second replica on one host)."""
    if port:
        start_http_server(port, addr="0.0.0.0")
        log.info("metrics_listening", port=port)
