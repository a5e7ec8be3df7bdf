"""Chaos run: jobs through the HTTP API while services are SIGKILLed and the broker restarts.

Usable from a test (``ChaosRun(...).run()``) and by hand::

    .venv/bin/python -m tests.chaos.harness --jobs 20 --kill-every 4 --broker-restarts 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pika
import requests

from contracts.topology import EXCHANGE, QUEUES
from services.common.bus.admin import Management
from services.common.bus.declare import declare_queues
from tests.chaos.jobs import make_jobs
from tests.chaos.verify import Submitted, Verdict, verify
from tests.support.private_broker import PrivateBroker
from tests.support.stack import SERVICES, Stack

FINAL = ("DONE", "ERROR", "CANCELLED")
#: Worker processes killed besides the services: (service that owns it, its command line has).
WORKERS = {
    "singleshot worker": ("analysis", "services.analysis.worker singleshot"),
    "multishot worker": ("analysis", "services.analysis.worker multishot"),
    "compile worker": ("spooler", "spawn_main"),
    "physics worker": ("emulator", "spawn_main"),
}
#: A durable quorum queue survives the broker restarts, unlike an exclusive tap.
TAP_QUEUE = "chaos.tap.shot_archived"


@dataclass
class ChaosConfig:
    jobs: int = 20
    seed: int = 1
    kill_every_s: float = 4.0
    min_kills: int = 6
    broker_restarts: int = 1
    max_chaos_s: float = 600.0  # chaos stops by then even if jobs are still running
    job_timeout_s: float = 600.0  # after chaos stops, how long jobs may take to end
    cycle_s: float = 0.02
    max_experiments: int = 3
    shots: tuple[int, int] = (2, 12)


@dataclass
class ChaosOutcome:
    verdict: Verdict
    kills: Counter = field(default_factory=Counter)
    #: Worker kills by kind; ``busy_worker_kills`` those that hit a worker using CPU (mid-request).
    worker_kills: Counter = field(default_factory=Counter)
    busy_worker_kills: int = 0
    broker_restarts: int = 0
    kills_while_running: int = 0
    failed_restarts: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timeline: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict.ok and not self.failed_restarts

    def table(self) -> str:
        v = self.verdict
        rows = [("jobs", f"{v.jobs} ({v.jobs_done} DONE)"),
                ("kills", f"{sum(self.kills.values())} ("
                 + ", ".join(f"{s} {self.kills[s]}" for s in SERVICES if self.kills[s]) + ")"),
                ("worker kills", f"{sum(self.worker_kills.values())} ("
                 + ", ".join(f"{k} {self.worker_kills[k]}" for k in WORKERS if self.worker_kills[k])
                 + f"; {self.busy_worker_kills} mid-request)"),
                ("kills while jobs ran", self.kills_while_running),
                ("broker restarts", self.broker_restarts),
                ("services that did not come back", len(self.failed_restarts)),
                ("shots expected", v.shots_expected), ("shots checked", v.shots_checked),
                ("losses", v.losses), ("duplicates", v.duplicates),
                ("wrong memory", v.wrong_memory), ("checksum errors", v.checksum_errors),
                ("leftover files", v.leftovers),
                ("ShotArchived redeliveries (tolerated)", v.redelivered_events),
                ("wall time", f"{self.seconds:.0f} s")]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {val}" for k, val in rows)


class ChaosRun:
    def __init__(self, config: ChaosConfig, home: Path,
                 echo: Callable[[str], None] = lambda line: print(line, flush=True)) -> None:
        self.config, self.home, self._echo = config, home, echo
        self._rng = random.Random(config.seed)
        self._t0 = time.monotonic()
        self._jobs_over = threading.Event()
        self.outcome = ChaosOutcome(Verdict())

    def log(self, text: str) -> None:
        line = f"[{time.monotonic() - self._t0:7.1f}s] {text}"
        self.outcome.timeline.append(line)
        self._echo(line)

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> ChaosOutcome:
        broker = PrivateBroker()
        broker.start()
        self.log(f"private broker {broker.node} on port {broker.port}")
        try:
            self._prepare_broker(broker)
            with Stack(self.home, broker.amqp_url, cycle_s=self.config.cycle_s,
                       extra_env={"SHOTLINE_SUBMIT_BURST": "1000"}) as stack:
                stack.start()
                stack.add_user("chaos")
                self.log("stack ready: " + ", ".join(SERVICES))
                return self._run_with(stack, broker)
        finally:
            broker.destroy()

    def _prepare_broker(self, broker: PrivateBroker) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(broker.amqp_url))
        try:
            channel = connection.channel()
            declare_queues(channel, QUEUES)
            channel.queue_declare(TAP_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_bind(TAP_QUEUE, EXCHANGE, "shot.archived.*")
        finally:
            connection.close()
        Management(broker.management_url, broker.amqp_url).apply_policies("/")

    def _run_with(self, stack: Stack, broker: PrivateBroker) -> ChaosOutcome:
        planned = make_jobs(self.config.jobs, self.config.seed, self.config.max_experiments,
                            self.config.shots)
        submitted: list[Submitted] = []
        chaos = threading.Thread(target=self._chaos, args=(stack, broker), daemon=True)
        chaos.start()
        for backend, job in planned:
            job_id = self._submit(stack, backend, job)
            submitted.append(Submitted(backend, job_id, job))
            self.log(f"submitted {backend} {job_id}: "
                     f"{len(job)} experiments, {sum(e['shots'] for e in job.values())} shots")
        statuses = self._wait_final(stack, submitted)
        self._jobs_over.set()
        chaos.join()
        self.outcome.seconds = time.monotonic() - self._t0
        results = {s.job_id: self._get(stack, f"/api/v2/{s.backend}/get_job_result",
                                       {"job_id": s.job_id}) for s in submitted}
        stack.stop()  # nothing may touch the files while they are checked
        self.outcome.verdict = verify(self.home, submitted, statuses, results,
                                      self._drain_tap(broker), stack.shots_dir, stack.sds_dir)
        for problem in self.outcome.verdict.problems:
            self.log(f"PROBLEM {problem}")
        return self.outcome

    # -- chaos ------------------------------------------------------------------------------
    def _chaos(self, stack: Stack, broker: PrivateBroker) -> None:
        cfg, kills = self.config, 0
        deadline = time.monotonic() + cfg.max_chaos_s
        # The broker restarts at evenly spread points between the kills.
        broker_at = {round((i + 1) * cfg.min_kills / (cfg.broker_restarts + 1))
                     for i in range(cfg.broker_restarts)}
        while time.monotonic() < deadline:
            enough = kills >= cfg.min_kills and self.outcome.broker_restarts >= cfg.broker_restarts
            if enough and self._jobs_over.is_set():
                break
            # Wakes early when the jobs are over, so a short run still makes its kills.
            self._jobs_over.wait(self._rng.uniform(0.5, 1.5) * cfg.kill_every_s)
            if kills in broker_at and self.outcome.broker_restarts < cfg.broker_restarts:
                broker_at.discard(kills)
                self._restart_broker(stack, broker)
                continue
            # Every other kill aims at a worker process, when one of the kind drawn is alive.
            if self._rng.random() < 0.5 and self._kill_worker(stack):
                kills += 1
                if not self._jobs_over.is_set():
                    self.outcome.kills_while_running += 1
                continue
            name = self._rng.choice(SERVICES)
            self.log(f"SIGKILL {name}")
            started = time.monotonic()
            stack.kill(name)
            stack.spawn(name)
            self._await_ready(stack, name)
            kills += 1
            self.outcome.kills[name] += 1
            if not self._jobs_over.is_set():
                self.outcome.kills_while_running += 1
            self.log(f"  {name} back after {time.monotonic() - started:.1f} s")
        self.log(f"chaos over: {kills} kills, {self.outcome.broker_restarts} broker restarts")

    def _kill_worker(self, stack: Stack) -> bool:
        """SIGKILL one worker process of a randomly drawn kind; False if none is alive."""
        kind = self._rng.choice(list(WORKERS))
        service, marker = WORKERS[kind]
        pids = worker_pids(stack.procs[service].process.pid, marker)
        if not pids:
            return False
        pid = pids[0]
        busy = cpu_ticks(pid) is not None and _busy(pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.outcome.worker_kills[kind] += 1
        self.outcome.busy_worker_kills += busy
        self.log(f"SIGKILL {kind} (pid {pid}{', mid-request' if busy else ''})")
        return True

    def _restart_broker(self, stack: Stack, broker: PrivateBroker) -> None:
        self.log("BROKER STOP")
        started = time.monotonic()
        broker.stop()
        # A service (re)started while the broker is down must wait for it and then connect.
        name = self._rng.choice(SERVICES)
        stack.kill(name)
        stack.spawn(name)
        self.outcome.kills[name] += 1
        self.log(f"  SIGKILL {name} and start it while the broker is down")
        broker.start()
        self.outcome.broker_restarts += 1
        self.log(f"BROKER UP after {time.monotonic() - started:.1f} s")
        for service in SERVICES:
            self._await_ready(stack, service)
        self.log(f"  {name} connected after {time.monotonic() - started:.1f} s")

    def _await_ready(self, stack: Stack, name: str) -> None:
        """Wait for ``service_ready``; a service that does not come back is a finding, and is
        then restarted once more (as ``shotline up`` would) so the run can go on."""
        try:
            stack.wait_ready(name, timeout=120)
        except AssertionError as exc:
            self.outcome.failed_restarts.append(name)
            self.log(f"FAILED: {name} did not come back:\n{exc}")
            stack.kill(name)
            stack.spawn(name)
            stack.wait_ready(name, timeout=120)

    # -- the client -------------------------------------------------------------------------
    def _submit(self, stack: Stack, backend: str, job: dict[str, Any]) -> str:
        """POST like a careful client: one Idempotency-Key, retried until accepted."""
        key = uuid.uuid4().hex
        body = {"job": json.dumps(job), "token": stack.token}
        while True:
            try:
                reply = stack.session.post(f"{stack.base_url}/api/v2/{backend}/post_job", json=body,
                                           headers={"Idempotency-Key": key}, timeout=30)
                if reply.status_code < 300:
                    return reply.json()["job_id"]
                if reply.status_code < 500 and reply.status_code != 429:
                    raise AssertionError(f"job refused: {reply.status_code} {reply.text[:500]}")
                self.log(f"  post_job answered {reply.status_code}; retrying")
            except requests.RequestException as exc:
                self.log(f"  post_job failed ({type(exc).__name__}); retrying")
            time.sleep(0.5)  # the client's retry back-off; the server offers no signal

    def _get(self, stack: Stack, path: str, params: dict[str, str]) -> dict[str, Any]:
        while True:
            try:
                reply = stack.session.get(stack.base_url + path,
                                          params={**params, "token": stack.token}, timeout=30)
                if reply.status_code < 500:
                    return reply.json()
            except requests.RequestException:
                pass
            time.sleep(0.5)  # ingest restarting; clients poll the same way

    def _wait_final(self, stack: Stack, submitted: list[Submitted]) -> dict[str, dict[str, Any]]:
        statuses: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + self.config.max_chaos_s + self.config.job_timeout_s
        while time.monotonic() < deadline:
            for s in submitted:
                if statuses.get(s.job_id, {}).get("status") not in FINAL:
                    status = self._get(stack, f"/api/v2/{s.backend}/get_job_status",
                                       {"job_id": s.job_id})
                    statuses[s.job_id] = status
                    if status.get("status") in FINAL:
                        self.log(f"job {s.job_id} ({s.backend}) {status['status']}")
            if all(st.get("status") in FINAL for st in statuses.values()):
                return statuses
            time.sleep(0.5)  # status polling, as every HTTP client does
        self.log("TIMEOUT waiting for jobs: " + ", ".join(
            f"{j} {st.get('status')}" for j, st in statuses.items()
            if st.get("status") not in FINAL))
        return statuses

    def _drain_tap(self, broker: PrivateBroker) -> list[dict[str, Any]]:
        connection = pika.BlockingConnection(pika.URLParameters(broker.amqp_url))
        events = []
        try:
            channel = connection.channel()
            while True:
                method, _, body = channel.basic_get(TAP_QUEUE, auto_ack=True)
                if method is None:
                    return events
                events.append(json.loads(body))
        finally:
            connection.close()


def worker_pids(parent: int, marker: str) -> list[int]:
    """Processes whose parent is ``parent`` and whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and marker in cmdline:
            found.append(int(entry.name))
    return found


def cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def _busy(pid: int) -> bool:
    """Whether the process used CPU over the next 50 ms (it is working on a request)."""
    before = cpu_ticks(pid)
    threading.Event().wait(0.05)  # a sampling interval, not a wait for a state
    after = cpu_ticks(pid)
    return before is not None and after is not None and after > before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-every", type=float, default=4.0, help="mean seconds between kills")
    parser.add_argument("--min-kills", type=int, default=10)
    parser.add_argument("--broker-restarts", type=int, default=2)
    parser.add_argument("--duration", type=float, default=900.0, help="longest chaos phase (s)")
    parser.add_argument("--cycle", type=float, default=0.02, help="emulator cycle time (s)")
    parser.add_argument("--shots", type=int, nargs=2, default=(20, 200), metavar=("MIN", "MAX"),
                        help="shots per experiment, drawn uniformly")
    parser.add_argument("--home", type=Path, default=None, help="keep state here (default: tmp)")
    args = parser.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="shotline-chaos-")) / "home"
    config = ChaosConfig(jobs=args.jobs, seed=args.seed, kill_every_s=args.kill_every,
                         min_kills=args.min_kills, broker_restarts=args.broker_restarts,
                         max_chaos_s=args.duration, cycle_s=args.cycle,
                         shots=tuple(args.shots))
    outcome = ChaosRun(config, home).run()
    print(f"\nstate and service logs kept in {home}\n")
    print(outcome.table())
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
