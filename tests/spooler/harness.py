"""Test harness for the labscript half: services as subprocesses, a tap on the bus, job events."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pika

from contracts.events import Event, JobSubmitted, decode_event
from contracts.topology import EXCHANGE, QUEUES
from services.common.bus import Publisher
from services.common.bus.declare import declare_queues

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def declare_topology(amqp_url: str) -> None:
    """What ``shotline topology`` does: every work queue exists, so every event is routable."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        declare_queues(connection.channel(), QUEUES)
    finally:
        connection.close()


def publish(amqp_url: str, event: Event) -> None:
    publisher = Publisher(amqp_url, "test")
    try:
        publisher.publish(event)
    finally:
        publisher.close()


def job_event(job_id: str, payload: dict[str, Any], backend: str = "fermions") -> JobSubmitted:
    return JobSubmitted.create("test", job_id=job_id, backend=backend, owner="alice", payload=payload)


class Tap:
    """Every event matching ``pattern``, via an exclusive server-named queue (bound before use)."""

    def __init__(self, amqp_url: str, pattern: str = "#") -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(amqp_url, pattern), daemon=True)
        self._thread.start()
        assert self._ready.wait(20), "tap did not start"

    def _run(self, amqp_url: str, pattern: str) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        channel = connection.channel()
        channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
        name = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(name, EXCHANGE, pattern)
        channel.basic_consume(name, lambda ch, m, p, body: self.events.put(decode_event(p.type, body)),
                              auto_ack=True)
        self._ready.set()
        while not self._stop.is_set():
            connection.process_data_events(time_limit=0.1)
        connection.close()

    def collect(self, done: Callable[[list[Event]], bool], timeout: float) -> list[Event]:
        """Events until ``done(events)`` holds; AssertionError after ``timeout`` seconds."""
        import time

        seen: list[Event] = []
        deadline = time.monotonic() + timeout
        while not done(seen):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                kinds = [type(e).__name__ for e in seen]
                raise AssertionError(f"timed out after {timeout}s; saw {len(seen)} events: {kinds[-20:]}")
            try:
                seen.append(self.events.get(timeout=remaining))
            except queue.Empty:
                continue
        return seen

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def of(events: list[Event], kind: type[Event], job_id: str | None = None) -> list[Any]:
    return [e for e in events if isinstance(e, kind) and (job_id is None or e.job_id == job_id)]


class Services:
    """Starts shotline services as separate processes; stops them (by pid) at the end."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, **extra: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.env, **extra}
        log = open(self.home / f"{name}.log", "ab")
        proc = subprocess.Popen([PYTHON, "-m", "services.cli.main", name], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def stop(self, name: str, timeout: float = 15) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in self.home.glob("*.log"))


@contextmanager
def services(home: Path, amqp_url: str, **env: str) -> Iterator[Services]:
    base = {"SHOTLINE_HOME": str(home), "SHOTLINE_AMQP_URL": amqp_url, "SHOTLINE_LOG_FORMAT": "json",
            "READTHEDOCS": "1", **env}
    running = Services(home, base)
    try:
        yield running
    except BaseException:
        running.stop_all()
        print(running.logs())
        raise
    running.stop_all()
