"""Outcome distributions computed in a killable worker process, under a per-shot time limit.

The physics runs in one long-lived child (``services.common.child_process``) that imports it
once, so a normal shot pays no process start. An evolution that outlasts the limit (the
backend's ``max_shot_seconds`` in get_config, or ``SHOTLINE_MAX_SHOT_SECONDS``) is SIGKILLed
with its worker and the shot fails with a ``SimulationError``; a fresh worker boots at once
for the next shot. A worker that dies by itself is restarted and the evolution retried
(``services.common.worker_restarts``). Every outcome, failures included, is cached per circuit:
the remaining shots of a circuit that timed out fail at once instead of each taking the limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import structlog

from contracts.backends import get_backend
from services.common.child_process import (
    ChildDied, ChildProcess, ChildTimedOut, ChildUnavailable,
)
from services.common.worker_restarts import MAX_RESTARTS, died_every_time, record_restart
from services.emulator.physics import SimulationError

log = structlog.get_logger(__name__)
WORKER = "emulator-physics"
#: Distinct circuits whose outcome (table or failure) is kept.
CACHE_SIZE = 256

Request = tuple[str, str, int | None]  # backend, circuit JSON, num_wires
Table = tuple[tuple[str, ...], np.ndarray]  # sorted memory strings, their cumulative probability


def physics_handler() -> Callable[[Request], tuple[str, Any]]:
    """In the child: import the physics once; the handler answers ("ok", table) or ("error", …)."""
    from services.emulator.physics import outcome_distribution

    def handle(request: Request) -> tuple[str, Any]:
        backend, circuit_json, num_wires = request
        try:
            return "ok", outcome_distribution(backend, json.loads(circuit_json), num_wires)
        except SimulationError as exc:
            return "error", str(exc)

    return handle


def _cumulative(table: dict[str, float]) -> Table:
    labels = tuple(sorted(table))
    cdf = np.cumsum([max(table[label], 0.0) for label in labels])
    return labels, cdf / cdf[-1] if len(cdf) else cdf


class Simulator:
    """The emulator's physics: one worker process, used by the shot-running thread only."""

    def __init__(self, override_s: float | None = None, start_timeout_s: float = 120.0) -> None:
        self._override = override_s
        # Bound: an evolution must not outlive an emulator that was SIGKILLed. The emulator
        # starts its worker from its main and shot-running threads, which live as long as it.
        self._child = ChildProcess(WORKER, f"{__name__}:physics_handler",
                                   start_timeout_s=start_timeout_s, bound=True)
        # Per instance, not per module: a new limit (a new Simulator) forgets old verdicts.
        self._outcome = lru_cache(maxsize=CACHE_SIZE)(self._evaluate)

    @property
    def worker_pid(self) -> int | None:
        return self._child.pid

    def warm_up(self) -> None:
        """Start the worker now (otherwise the first shot does); a failure shows at that shot."""
        try:
            self._child.start()
        except ChildUnavailable as exc:
            log.error("physics_worker_unavailable", error=str(exc))

    def close(self) -> None:
        self._child.close()

    def limit(self, backend: str) -> tuple[float, str]:
        """Seconds one evolution on ``backend`` may take, and where that limit is set."""
        if self._override is not None:
            return self._override, "SHOTLINE_MAX_SHOT_SECONDS of the emulator"
        spec = get_backend(backend)
        return spec.max_shot_seconds, f"max_shot_seconds of {spec.backend_name} in get_config"

    def table(self, backend: str, circuit_json: str, num_wires: int | None) -> Table:
        """The circuit's outcome table (one evolution per distinct circuit).

        Raises:
            SimulationError: the physics refused it, it exceeded the time limit, or it killed
                the worker on every try; the same error comes back for every later shot.
        """
        outcome = self._outcome(backend, circuit_json, num_wires)
        if isinstance(outcome, str):
            raise SimulationError(outcome)
        return outcome

    def _evaluate(self, backend: str, circuit_json: str, num_wires: int | None) -> Table | str:
        try:
            seconds, source = self.limit(backend)
        except Exception as exc:  # noqa: BLE001 - an unknown backend fails the shot only
            return f"no time limit for backend {backend!r}: {exc}"
        unavailable: ChildUnavailable | None = None
        for tries_left in range(MAX_RESTARTS, -1, -1):
            try:
                status, value = self._child.request((backend, circuit_json, num_wires), seconds)
            except ChildTimedOut:
                # SIGKILL, not EOF: the child is mid-evolution and would never read it. Its
                # replacement boots while this shot is written, ready for the next one.
                self._child.kill()
                self._child.launch()
                log.warning("simulation_timed_out", backend=backend, limit_s=seconds)
                return f"simulation exceeded the time limit of {seconds:g} s ({source})"
            except ChildUnavailable as exc:  # killed while booting, or a broken environment
                unavailable, how = exc, str(exc)
            except ChildDied as died:
                unavailable, how = None, str(died)
            else:
                return _cumulative(value) if status == "ok" else value
            if tries_left:
                record_restart(WORKER, how, tries_left)
        if unavailable is not None:
            # The environment's fault, not the circuit's: raised, so never cached.
            raise SimulationError(str(unavailable))
        return f"the simulation {died_every_time(MAX_RESTARTS + 1, how)}"
