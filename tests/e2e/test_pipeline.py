"""End to end with the real broker and every service as its own process: jobs posted through the
HTTP API come back DONE with the emulator's ground truth, archived and verified, one CSV per
experiment; a failing routine turns a job into ERROR and the services go on."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest

from contracts.topology import EXCHANGE
from services.common.labscript_profile import ensure_profile
from tests.chaos.verify import ground_truth, sha256
from tests.support.stack import Stack

pytestmark = [pytest.mark.rabbit, pytest.mark.e2e]
DATA = Path(__file__).resolve().parents[1] / "data"

JOBS: dict[str, dict[str, Any]] = {
    # Real fixtures: the qlued showcase jobs (one of them with 11 experiments: numeric order).
    "fermions": json.loads((DATA / "qlued_v2_fermions_showcase.job_hop_11_experiments.json").read_text()),
    "singlequdit": {"experiment_0": {"instructions": [["load", [0], [50]], ["rlx", [0], [1.2]],
                                                       ["rlz2", [0], [0.3]], ["measure", [0], []]],
                                     "num_wires": 1, "shots": 12, "seed": 7}},
    "multiqudit": {"experiment_0": {"instructions": [["load", [0], [3]], ["load", [1], [2]],
                                                      ["rlx", [0], [0.9]], ["rlxly", [0, 1], [1.1]],
                                                      ["measure", [0], []], ["measure", [1], []]],
                                    "num_wires": 2, "shots": 10},
                   "experiment_1": {"instructions": [["load", [0], [1]], ["measure", [0], []]],
                                    "num_wires": 1, "shots": 3}},
    "rydberg": {"experiment_0": {"instructions": [["rlx", [0], [3.14159]], ["rlx", [1], [1.5]],
                                                   ["rydberg_blockade", [0, 1, 2, 3, 4], [2.0]],
                                                   ["measure", [0], []], ["measure", [1], []],
                                                   ["measure", [4], []]],
                                 "num_wires": 5, "shots": 10}},
}


class EventTap:
    """An exclusive queue bound before the test acts, so every event of interest is kept."""

    def __init__(self, amqp_url: str, pattern: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self.channel = self.connection.channel()
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, EXCHANGE, pattern)

    def drain(self) -> list[dict[str, Any]]:
        events = []
        while True:
            method, _, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return events
            events.append(json.loads(body))

    def wait_for(self, match, timeout: float = 60) -> list[dict[str, Any]]:
        """Block until an event satisfying ``match`` arrives; return every event seen."""
        seen = []
        try:
            for method, _, body in self.channel.consume(self.queue, auto_ack=True, inactivity_timeout=timeout):
                assert method is not None, f"no matching event within {timeout}s"
                seen.append(json.loads(body))
                if match(seen[-1]):
                    return seen
        finally:
            self.channel.cancel()
        return seen

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def stack(tmp_path: Path, amqp_url: str) -> Iterator[Stack]:
    with Stack(tmp_path / "home", amqp_url) as running:
        running.start()
        running.add_user("alice")
        yield running


def archived_shots(sds: Path, backend: str, job_id: str) -> dict[str, list[Path]]:
    """Archived shot files per experiment, in shot order (layout backend/yyyy/mm/dd/job/exp)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(sds.glob(f"{backend}/*/*/*/{job_id}/*/*.h5")):
        if not path.name.endswith(".multishot.h5"):
            found.setdefault(path.parent.name, []).append(path)
    return found


def test_every_backend_job_comes_back_done_with_the_emulators_ground_truth(stack: Stack, amqp_url: str):
    tap = EventTap(amqp_url, "shot.archived.*")
    try:
        # Given one job per simulator backend, posted through the HTTP API at once
        submitted = {backend: stack.post_job(backend, job) for backend, job in JOBS.items()}
        # When they have all finished
        statuses = {b: stack.wait_final(b, job_id, timeout=180) for b, job_id in submitted.items()}
        assert {b: s["status"] for b, s in statuses.items()} == {b: "DONE" for b in JOBS}, statuses
        archived_events = tap.drain()
    finally:
        tap.close()
    sds = stack.sds_dir
    checked = 0
    for backend, job_id in submitted.items():
        result = stack.result(backend, job_id)
        # Then the result lists every experiment in numeric order with one memory per shot
        assert result["status"] == "finished" and result["success"] is True
        expected_names = sorted(JOBS[backend], key=lambda k: int(k.split("_")[1]))
        assert [r["header"]["name"] for r in result["results"]] == expected_names
        shots = archived_shots(sds, backend, job_id)
        for entry in result["results"]:
            name = entry["header"]["name"]
            files = shots[name]
            assert len(files) == JOBS[backend][name]["shots"] == entry["shots"]
            # ... equal, shot by shot, to what the emulator sampled
            assert entry["data"]["memory"] == [ground_truth(p) for p in files]
            # ... with one lyse CSV per experiment next to its shots
            assert (files[0].parent / f"{name}.csv").is_file()
            checked += len(files)
        # Every archived file is what ShotArchived announced, checksum included, and no spool
        # copy is left behind.
        announced = {e["path"]: e["sha256"] for e in archived_events if e["job_id"] == job_id}
        assert sorted(announced) == sorted(str(p) for ps in shots.values() for p in ps)
        assert all(sha256(Path(p)) == digest for p, digest in announced.items())
        assert not list((stack.shots_dir / backend / job_id).rglob("*.h5"))
    assert checked == sum(e["shots"] for job in JOBS.values() for e in job.values())


BROKEN_ROUTINE = '''"""A lab routine with a bug: it divides by the number of dark sites."""
from lyse import Run, path

run = Run(path)
dark_sites = 0
run.save_result("ratio", 1 / dark_sites)
'''


def test_a_failing_routine_turns_the_job_into_error_and_the_services_go_on(tmp_path: Path, amqp_url: str):
    # Given a lab routine that raises, configured for the rydberg backend only
    name = f"e2e_broken_{uuid.uuid4().hex[:8]}.py"
    ensure_profile(analysis_sync={name: BROKEN_ROUTINE})
    extra = {"SHOTLINE_ANALYSIS_EXTRA_ROUTINES": json.dumps({"rydberg": [name]})}
    with Stack(tmp_path / "home", amqp_url, extra_env=extra) as stack:
        stack.start()
        stack.add_user("alice")
        # When a rydberg job runs
        failing = stack.post_job("rydberg", JOBS["rydberg"])
        status = stack.wait_final("rydberg", failing)
        # Then it ends in ERROR naming the routine and its exception
        assert status["status"] == "ERROR"
        assert f"analysis routine {name[:-3]} raised ZeroDivisionError" in status["error_message"]
        failed_result = stack.result("rydberg", failing)
        assert failed_result["status"] == "error"
        # And the services carry on: a job on another backend still completes
        ok = stack.post_job("singlequdit", JOBS["singlequdit"])
        assert stack.wait_final("singlequdit", ok)["status"] == "DONE"
        assert all(p.process.poll() is None for p in stack.procs.values())
