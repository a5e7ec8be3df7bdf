"""A shot whose simulation outlasts the time limit is killed with its worker and fails alone."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import h5py
import pytest
from labscript_utils.ls_zprocess import zmq_get
from prometheus_client import REGISTRY

from services.analysis.shotfile import executor_failure
from services.emulator.blacs_server import ADDED
from services.emulator.physics import SimulationError
from services.emulator.simulation import WORKER, Simulator
from tests.conftest import wait_until
from tests.emulator.test_emulator import FakeLyse
from tests.support.shots import compiled_shots

LIMIT_S = 0.5
#: Kill, reap and reply on a loaded 2-core machine; measured at a few ms when idle.
MARGIN_S = 0.5


def full_chain(gates: int) -> list:
    """Two 64-level qudits (a 4096-state space) under ``gates`` multiqudit_full evolutions:
    measured here at 0.4 s per gate (tests/bench/bench_cost.py), far above the cost cap."""
    return ([["load", [0], [63]], ["load", [1], [63]]]
            + [["multiqudit_full", [0, 1], [1.0 + 0.1 * k, 0.5, 0.1, 1.0, 0.3]]
               for k in range(gates)]
            + [["measure", [0], []], ["measure", [1], []]])


SLOW = json.dumps(full_chain(40))  # about 16 s: only ever run to be killed
NORMAL = json.dumps([["load", [0], [3]], ["load", [1], [2]], ["rlx", [0], [1.0]],
                     ["measure", [0], []], ["measure", [1], []]])
REASON = f"simulation exceeded the time limit of {LIMIT_S:g} s"


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def limited():
    sim = Simulator(override_s=LIMIT_S)
    sim.warm_up()
    yield sim
    sim.close()


def test_an_evolution_over_the_limit_is_killed_and_the_next_circuit_runs(limited):
    pid = limited.worker_pid
    assert pid is not None
    # When a circuit's evolution outlasts the limit
    began = time.monotonic()
    with pytest.raises(SimulationError, match=REASON) as caught:
        limited.table("multiqudit", SLOW, 2)
    # Then it is stopped within the limit and a small margin, its worker with it (SIGKILL)
    assert LIMIT_S <= time.monotonic() - began < LIMIT_S + MARGIN_S
    assert str(caught.value) == f"{REASON} (SHOTLINE_MAX_SHOT_SECONDS of the emulator)"
    assert gone(pid)
    # And the next circuit runs, in a fresh worker
    labels, cdf = limited.table("multiqudit", NORMAL, 2)
    assert labels and cdf[-1] == pytest.approx(1.0)
    assert limited.worker_pid not in (None, pid)
    # And the timed-out circuit's other shots fail at once, without a worker kill
    fresh = limited.worker_pid
    began = time.monotonic()
    with pytest.raises(SimulationError, match=REASON):
        limited.table("multiqudit", SLOW, 2)
    assert time.monotonic() - began < 0.05
    assert limited.worker_pid == fresh


def test_the_limit_is_the_backends_published_max_shot_seconds():
    sim = Simulator()
    assert sim.limit("multiqudit") == (
        30.0, "max_shot_seconds of shotline_multiqudit_simulator in get_config")
    assert sim.limit("shotline_fermions_simulator")[0] == 30.0


def test_a_backend_without_a_spec_fails_its_shot_not_the_simulator():
    sim = Simulator()
    try:
        with pytest.raises(SimulationError, match="no time limit for backend 'nope'"):
            sim.table("nope", NORMAL, 2)
        assert sim.table("multiqudit", NORMAL, 2)[0]
    finally:
        sim.close()


def test_a_worker_that_dies_by_itself_is_restarted_and_the_evolution_retried():
    restarts = lambda: REGISTRY.get_sample_value(  # noqa: E731
        "shotline_worker_restarts_total", {"worker": WORKER}) or 0.0
    sim, outcome = Simulator(override_s=120.0), []
    sim.warm_up()
    pid, before = sim.worker_pid, restarts()
    assert pid is not None
    idle = cpu_seconds(pid)
    medium = json.dumps(full_chain(3))  # about 1.2 s
    thread = threading.Thread(target=lambda: outcome.append(sim.table("multiqudit", medium, 2)))
    try:
        # Given an evolution under way in the worker (its CPU time grows past the idle start-up)
        thread.start()
        wait_until(lambda: cpu_seconds(pid) > idle + 0.2, timeout=30, what="the evolution")
        # When the worker is SIGKILLed from outside (the OOM killer, an operator)
        os.kill(pid, signal.SIGKILL)
        thread.join(120)
        # Then the evolution ran again in a fresh worker and the shot has its table
        assert not thread.is_alive() and len(outcome) == 1 and outcome[0][0]
        assert restarts() == before + 1
        assert sim.worker_pid not in (None, pid)
    finally:
        sim.close()


@pytest.mark.labscript
def test_only_the_slow_job_fails_with_the_reason_and_the_next_job_runs_at_once(tmp_path):
    from services.emulator.service import Emulator
    from services.emulator.settings import EmulatorSettings
    from tests.conftest import free_port

    settings = EmulatorSettings(home=tmp_path / "home", blacs_port=free_port(),
                                lyse_port=free_port(), bind_address="tcp://127.0.0.1",
                                max_shot_seconds=LIMIT_S)
    emu = Emulator(settings)
    emu.start()  # warms the physics worker up, as the runner does
    thread = threading.Thread(target=emu.run, daemon=True)
    thread.start()
    (tmp_path / "slow").mkdir()
    (tmp_path / "next").mkdir()
    slow = compiled_shots(tmp_path / "slow", "job-slow", json.loads(SLOW), 3, 1,
                          backend="multiqudit", num_wires=2)
    normal = compiled_shots(tmp_path / "next", "job-next", json.loads(NORMAL), 2, 2,
                            backend="multiqudit", num_wires=2)
    lyse = FakeLyse(settings.lyse_port)
    try:
        assert emu.ready.wait(30)
        began = time.monotonic()
        for path in slow + normal:
            assert zmq_get(settings.blacs_port, "127.0.0.1", path, timeout=10) == ADDED
        received = [(lyse.received.get(timeout=60), time.monotonic()) for _ in slow + normal]
        # Then every shot comes out, in order
        assert [path for path, _ in received] == slow + normal
        # And only the slow job's first shot waited for the limit: its other shots and the
        # next job's followed at once (each is a few h5 writes and a submission)
        assert LIMIT_S <= received[0][1] - began < LIMIT_S + 5.0
        assert all(b - a < 1.0 for (_, a), (_, b) in zip(received, received[1:]))
    finally:
        lyse.shutdown()
        emu.stop()
        thread.join(15)
    # And each of the slow job's shots carries the reason, which analysis fails the job with
    for path in slow:
        with h5py.File(path, "r") as f:
            assert f["data/emulator"].attrs["memory"] == ""
        assert executor_failure(path) == (
            f"the executor could not run the shot: {REASON} "
            "(SHOTLINE_MAX_SHOT_SECONDS of the emulator)")
    # And the next job's shots ran
    for path in normal:
        with h5py.File(path, "r") as f:
            assert f["data/emulator"].attrs["memory"] != ""
            assert f["data/emulator"].attrs["error"] == ""
        assert executor_failure(path) is None


def test_a_worker_that_cannot_start_fails_the_shot_without_a_verdict_on_the_circuit():
    restarts = lambda: REGISTRY.get_sample_value(  # noqa: E731
        "shotline_worker_restarts_total", {"worker": WORKER}) or 0.0
    sim = Simulator(start_timeout_s=0.001)  # no worker boots that fast: each start fails
    try:
        for attempt in (1, 2):
            before = restarts()
            with pytest.raises(SimulationError, match="worker process emulator-physics did not"):
                sim.table("multiqudit", NORMAL, 2)
            # Tried in fresh workers, and tried again by the next shot: nothing was cached
            assert restarts() == before + 2, attempt
    finally:
        sim.close()


BUSY_PARENT = """
from services.emulator.simulation import Simulator

if __name__ == "__main__":
    sim = Simulator(override_s=600.0)
    sim.warm_up()
    print(sim.worker_pid, flush=True)
    sim.table("multiqudit", {circuit!r}, 2)  # busy in the worker until the parent is killed
"""


def test_a_worker_mid_evolution_dies_with_its_killed_emulator(tmp_path):
    import select
    import subprocess
    import sys

    script = tmp_path / "busy_parent.py"
    script.write_text(BUSY_PARENT.format(circuit=SLOW))
    root = str(Path(__file__).resolve().parents[2])
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": root, "READTHEDOCS": "1"})
    try:
        # Given an emulator process whose worker is evolving a long circuit
        ready, _, _ = select.select([parent.stdout], [], [], 60)
        assert ready, "the parent did not start its worker"
        worker = int(parent.stdout.readline())
        handle = os.pidfd_open(worker)
        wait_until(lambda: cpu_seconds(worker) > 0.5, timeout=30, what="the evolution")
        # When the emulator is SIGKILLed (no chance to stop its worker)
        parent.kill()
        # Then the worker is killed with it, not left running its evolution
        gone_in_time, _, _ = select.select([handle], [], [], 10)
        assert gone_in_time, "the worker outlived its emulator"
        os.close(handle)
    finally:
        parent.kill()
        parent.wait(10)
        parent.stdout.close()
