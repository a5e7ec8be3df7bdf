"""Prometheus metrics shared by every service, and the HTTP endpoint that exposes them."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path

import structlog
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

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
#: Jobs in the ingest's store by status, read from the store at scrape time (see JobsByStatus).
JOBS_BY_STATUS_NAME = "shotline_jobs"
EXECUTOR_BUSY = Gauge(
    "shotline_executor_busy_ratio",
    "Fraction of the last BUSY_WINDOW_S seconds of wall time the executor spent running shots.")
EXECUTOR_BUSY_SECONDS = Counter(
    "shotline_executor_busy_seconds_total",
    "Wall time the executor spent running shots; rate() of it is the busy ratio over any window.")
ARCHIVE_BYTES = Counter("shotline_archive_bytes_total", "Bytes written to the SDS archive.")
WORKER_RESTARTS = Counter(
    "shotline_worker_restarts_total",
    "Worker processes (routine, compile) that died mid-request and were started again.", ["worker"])
#: The window of ``shotline_executor_busy_ratio``: long enough to smooth one cycle, short
#: enough that an idle apparatus shows as idle within a minute.
BUSY_WINDOW_S = 60.0


def serve_metrics(port: int, host: str) -> bool:
    """Expose ``/metrics`` on ``port`` (0: disabled, e.g. for a second replica on one host).

    A port already taken (a second replica with the default port) is logged, never fatal:
    losing metrics must not stop a service from doing its work.
    """
    if not port:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("metrics_unavailable", port=port, error=str(exc))
        return False
    log.info("metrics_listening", host=host, port=port)
    return True


class BusyClock:
    """Records when the executor runs shots; feeds the busy-ratio gauge and the busy counter."""

    def __init__(self, window_s: float = BUSY_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window_s
        self._clock = clock
        self._started = clock()
        self._spans: deque[tuple[float, float]] = deque()  # finished (start, end), oldest first
        self._running_since: float | None = None
        self._lock = threading.Lock()

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            self._running_since = self._clock()
        try:
            yield
        finally:
            with self._lock:
                start, end = self._running_since, self._clock()
                self._running_since = None
                self._spans.append((start, end))
            EXECUTOR_BUSY_SECONDS.inc(end - start)

    def ratio(self) -> float:
        """Busy fraction of the last window (of the uptime while it is shorter)."""
        with self._lock:
            now = self._clock()
            since = max(now - self._window, self._started)
            while self._spans and self._spans[0][1] <= since:
                self._spans.popleft()  # entirely outside the window: never needed again
            busy = sum(end - max(start, since) for start, end in self._spans)
            if self._running_since is not None:
                busy += now - max(self._running_since, since)
        elapsed = now - since
        return min(1.0, busy / elapsed) if elapsed > 0 else 0.0

    def export(self) -> None:
        """Make ``shotline_executor_busy_ratio`` read this clock at every scrape."""
        EXECUTOR_BUSY.set_function(self.ratio)


class JobsByStatus(Collector):
    """``shotline_jobs{status}`` read at scrape time, so it is never stale and costs nothing
    between scrapes. ``count`` returns jobs per status; every status is always reported."""

    def __init__(self, count: Callable[[], Mapping[str, int]], statuses: tuple[str, ...]) -> None:
        self._count = count
        self._statuses = statuses

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            counts = self._count()
        except Exception as exc:  # a busy or missing store must not break the whole scrape
            log.warning("jobs_by_status_unavailable", error=repr(exc)[:300])
            return
        family = GaugeMetricFamily(JOBS_BY_STATUS_NAME, "Jobs in the store by status.",
                                   labels=["status"])
        for status in self._statuses:
            family.add_metric([status], counts.get(status, 0))
        yield family

    def describe(self) -> list[GaugeMetricFamily]:
        # Describing without querying the store lets the registry check for name clashes.
        return [GaugeMetricFamily(JOBS_BY_STATUS_NAME, "Jobs in the store by status.",
                                  labels=["status"])]


def sqlite_status_counts(database: Path, table: str = "jobs") -> Callable[[], dict[str, int]]:
    """A ``count`` for ``JobsByStatus`` over a SQLite table with a ``status`` column; each call
    opens its own read-only connection (WAL readers never block the writer)."""

    def count() -> dict[str, int]:
        uri = f"{database.resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=2.0)) as db:
            return {str(s): int(n) for s, n in
                    db.execute(f"SELECT status, COUNT(*) FROM {table} GROUP BY status")}

    return count


def register_jobs_by_status(count: Callable[[], Mapping[str, int]],
                            statuses: tuple[str, ...]) -> JobsByStatus:
    collector = JobsByStatus(count, statuses)
    REGISTRY.register(collector)
    return collector
