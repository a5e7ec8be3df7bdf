"""The emulator: a drop-in BLACS for the simulator backends, with a durable queue and outbox."""

from __future__ import annotations

import threading
import time

import structlog

from services.common.metrics import BusyClock
from services.common.service import Part, Service
from services.common.shot_storage import is_executed
from services.emulator.settings import EmulatorSettings

log = structlog.get_logger(__name__)


class Emulator(Service[EmulatorSettings], name="emulator", settings=EmulatorSettings):
    """Serves BLACS's port, runs queued shots in order, submits them to lyse (shotwatch)."""

    def __init__(self, settings: EmulatorSettings) -> None:
        from services.common.labscript_env import prepare_labscript

        super().__init__(settings)
        prepare_labscript(zlock=False)  # BLACS's stand-in shares no file with a real BLACS
        from services.emulator.durable_queue import DurableQueue
        from services.emulator.simulation import Simulator

        root = settings.home / "emulator"
        self.queue = DurableQueue(root / "queue")  # accepted, not yet run
        self.outbox = DurableQueue(root / "outbox")  # run, not yet taken by lyse
        self._stop = threading.Event()
        self._server = None
        self.ready = threading.Event()
        self.busy = BusyClock()  # the apparatus is busy from taking a shot until it is saved
        # The physics' worker process; used by the shot-running thread only.
        self.simulator = Simulator(settings.max_shot_seconds)

    def start(self) -> None:
        self.busy.export()  # the executor's busy ratio, on this process's /metrics
        self.simulator.warm_up()  # pay the physics' import before the first shot

    def parts(self) -> list[Part]:
        return [self]

    # -- BLACS protocol ---------------------------------------------------------------------
    def accept(self, path: str) -> str:
        from services.emulator.blacs_server import ADDED

        if path in self.queue:
            return ADDED  # a hand-over repeated after a spooler restart
        if is_executed(path):
            # BLACS would re-run a copy; the emulator re-sends the result instead, so a
            # repeated hand-over is harmless (downstream is idempotent).
            if path not in self.outbox:
                self.outbox.put(path)
            return "Experiment added successfully: already run, result re-sent\n"
        self.queue.put(path)
        return ADDED

    # -- loops ------------------------------------------------------------------------------
    def _run_shots(self) -> None:
        from services.emulator.execute import execute_shot

        while not self._stop.is_set():
            path = self.queue.head(timeout=0.5)
            if path is None:
                continue
            with self.busy.running():
                started = time.time()
                # The apparatus is busy for the cycle time; data is saved at the end, as BLACS does.
                self._stop.wait(max(0.0, started + self.settings.emulator_cycle_s - time.time()))
                if self._stop.is_set():
                    return
                try:
                    # Run before a crash but not yet moved to the outbox: do not run it twice.
                    memory = ("" if is_executed(path)
                              else execute_shot(path, started, self.simulator))
                    log.debug("shot_run", path=path, memory=memory)
                except Exception:  # a broken file must not stop the apparatus
                    log.exception("shot_failed", path=path)
            self.outbox.put(path)  # outbox first, so a crash in between re-runs nothing
            self.queue.pop()

    def _submit(self) -> None:
        from services.emulator.blacs_server import submit_to_lyse

        delay = 0.05
        while not self._stop.is_set():
            path = self.outbox.head(timeout=0.5)
            if path is None:
                continue
            try:
                accepted = submit_to_lyse(path, self.settings.lyse_host, self.settings.lyse_port)
            except Exception as exc:  # lyse/shotwatch away: keep the shot and retry
                log.warning("lyse_unavailable", error=repr(exc)[:200], retry_in_s=delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 2.0)
                continue
            delay = 0.05
            if not accepted:
                log.error("lyse_refused_shot", path=path)  # as BLACS: a refusal is final
            self.outbox.pop()

    def run(self) -> None:
        from services.emulator.blacs_server import ExperimentServer

        self._server = ExperimentServer(self.settings.blacs_port, self.settings.bind_address, self.accept)
        threads = [threading.Thread(target=f, name=n, daemon=True)
                   for n, f in (("emulator-run", self._run_shots), ("emulator-submit", self._submit))]
        for thread in threads:
            thread.start()
        log.info("serving", port=self.settings.blacs_port, queued=len(self.queue), unsent=len(self.outbox))
        self.ready.set()
        self._stop.wait()
        self._server.shutdown()
        self.queue.wake()
        self.outbox.wake()
        for thread in threads:
            thread.join(10)
        self.simulator.close()

    def stop(self) -> None:
        self._stop.set()


SERVICE = Emulator
