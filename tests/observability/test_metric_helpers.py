"""The metric helpers: busy ratio arithmetic, counting hand-written loops, jobs by status."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from services.common.bus.hooks import Delivery, Metrics
from services.common.metrics import (
    BusyClock, JobsByStatus, serve_metrics, sqlite_status_counts,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_busy_ratio_is_the_busy_share_of_the_last_window():
    clock = FakeClock()
    busy = BusyClock(window_s=10, clock=clock)
    clock.now = 2
    assert busy.ratio() == 0
    with busy.running():
        clock.now = 5  # busy 2 -> 5 of an uptime of 5
        assert busy.ratio() == pytest.approx(3 / 5)  # a shot in progress counts already
    clock.now = 8
    assert busy.ratio() == pytest.approx(3 / 8)
    clock.now = 14  # window 4..14: only 4..5 of that shot
    assert busy.ratio() == pytest.approx(1 / 10)
    clock.now = 30
    assert busy.ratio() == 0  # idle for a whole window


def test_the_metrics_hook_counts_each_message_and_its_fate():
    queue = "test.metered"
    hook = Metrics()
    delivery = Delivery(queue, "job.done.fermions", "m", "j", "JobDone", b"{}", {}, False)
    for fate in ("ack", "dead", "requeue"):
        hook.before(delivery)
        hook.after(delivery, fate, 0.01)
    assert REGISTRY.get_sample_value("shotline_messages_consumed_total", {"queue": queue}) == 3
    assert [REGISTRY.get_sample_value("shotline_messages_settled_total", {"queue": queue, "fate": f})
            for f in ("ack", "dead", "requeue")] == [1, 1, 1]
    assert REGISTRY.get_sample_value("shotline_handler_seconds_count", {"queue": queue}) == 3


def test_jobs_by_status_reads_the_store_at_scrape_time(tmp_path: Path):
    db = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE jobs (job_id TEXT, status TEXT)")
        c.executemany("INSERT INTO jobs VALUES (?, ?)", [("a", "DONE"), ("b", "DONE"), ("c", "QUEUED")])
    registry = CollectorRegistry()
    registry.register(JobsByStatus(sqlite_status_counts(db), ("QUEUED", "DONE", "ERROR")))
    text = generate_latest(registry).decode()
    assert 'shotline_jobs{status="DONE"} 2.0' in text
    assert 'shotline_jobs{status="ERROR"} 0.0' in text  # every status, even when none is
    registry_missing = CollectorRegistry()
    registry_missing.register(JobsByStatus(sqlite_status_counts(tmp_path / "none.sqlite3"), ("DONE",)))
    assert "shotline_jobs{" not in generate_latest(registry_missing).decode()  # no crash either


def test_a_taken_metrics_port_is_not_fatal():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert serve_metrics(taken.getsockname()[1], "127.0.0.1") is False
    assert serve_metrics(0, "127.0.0.1") is False
