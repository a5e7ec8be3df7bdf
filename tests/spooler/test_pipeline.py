"""A job published on the bus comes back as ShotFinished for every shot, through spooler, emulator
and shotwatch running as separate processes (real broker, own vhost, own ports and home)."""

from __future__ import annotations

import h5py
import pytest

from contracts.events import JobCancelled, JobFailed, JobSpooled, JobStatusChanged, ShotFinished
from contracts.status import JobStatus
from services.common.shot_storage import experiment_folder, shot_path
from services.common.imaging import read_fluorescence
from tests.conftest import free_port
from tests.spooler.harness import Tap, declare_topology, job_event, of, publish, services

pytestmark = [pytest.mark.rabbit, pytest.mark.labscript, pytest.mark.e2e]

LOAD_MEASURE = {"instructions": [["load", [0], []], ["load", [3], []], ["measure", [0], []],
                                 ["measure", [1], []], ["measure", [3], []]],
                "num_wires": 8, "shots": 3, "wire_order": "interleaved"}
HOP = {"instructions": [["load", [0], []], ["load", [1], []], ["fhop", [0, 1, 2, 3], [0.785]],
                        ["measure", [0], []], ["measure", [2], []]],
       "num_wires": 8, "shots": 4, "wire_order": "interleaved", "seed": 7}


def ports() -> dict[str, str]:
    blacs, lyse = free_port(), free_port()
    return {"SHOTLINE_BLACS_PORT": str(blacs), "SHOTLINE_LYSE_PORT": str(lyse)}


def test_job_yields_shot_finished_for_every_shot(tmp_path, amqp_url):
    # Given the topology and all three services
    declare_topology(amqp_url)
    tap = Tap(amqp_url)
    with services(tmp_path, amqp_url, **ports()) as running:
        for name in ("shotwatch", "emulator", "spooler"):
            running.start(name)
        # When a job of two experiments is submitted
        publish(amqp_url, job_event("job-a", {"experiment_1": HOP, "experiment_0": LOAD_MEASURE}))
        events = tap.collect(lambda seen: len(of(seen, ShotFinished)) == 7, timeout=60)
    tap.close()
    # Then it was spooled in experiment order, ran, and every shot finished exactly once
    spooled = of(events, JobSpooled)[0]
    assert [e.name for e in spooled.experiments] == ["experiment_0", "experiment_1"]
    assert spooled.total_shots == 7
    running_status = of(events, JobStatusChanged)
    assert running_status and running_status[0].status == JobStatus.RUNNING
    finished = of(events, ShotFinished)
    assert sorted((e.experiment, e.shot_index) for e in finished) == [
        ("experiment_0", k) for k in range(3)] + [("experiment_1", k) for k in range(4)]
    assert [e.n_shots for e in spooled.experiments] == [3, 4]
    shots = tmp_path / "shots"
    expected_paths = {str(shot_path(experiment_folder(shots, "fermions", "job-a", e.name), k))
                      for e in spooled.experiments for k in range(e.n_shots)}
    assert {e.path for e in finished} == expected_paths
    assert not of(events, JobFailed)
    # And each file holds what BLACS would write, its image encoding the simulated outcome
    for event in finished:
        assert event.path.startswith(str(tmp_path / "shots" / "fermions" / "job-a"))
        with h5py.File(event.path, "r") as f:
            assert "run time" in f.attrs and "data" in f
            memory = f["data/emulator"].attrs["memory"]
            image = f["images/top/fluorescence/atoms"]
            assert image.attrs["CLASS"] == b"IMAGE"
            assert read_fluorescence(image[()]) == [int(v) for v in memory.split()]
            if event.experiment == "experiment_0":
                assert memory == "1 0 1"  # loaded wires 0 and 3, measured 0, 1, 3


def test_compile_error_fails_the_job_with_a_readable_reason(tmp_path, amqp_url):
    declare_topology(amqp_url)
    tap = Tap(amqp_url)
    bad = {"instructions": [["load", [0], []], ["teleport", [0], []]], "num_wires": 8, "shots": 2}
    with services(tmp_path, amqp_url, **ports()) as running:
        running.start("spooler")
        publish(amqp_url, job_event("job-bad", {"experiment_0": bad}))
        events = tap.collect(lambda seen: bool(of(seen, JobFailed)), timeout=60)
    tap.close()
    failed = of(events, JobFailed)[0]
    assert failed.stage == "spooling"
    assert "experiment_0" in failed.reason and "teleport" in failed.reason
    assert not of(events, JobSpooled)


def test_cancelled_queued_job_never_reaches_the_executor(tmp_path, amqp_url):
    # Given a running job that keeps the executor busy, and a second job behind it
    declare_topology(amqp_url)
    tap = Tap(amqp_url)
    long = dict(LOAD_MEASURE, shots=30)
    with services(tmp_path, amqp_url, SHOTLINE_EMULATOR_CYCLE_S="0.05",
                  SHOTLINE_HANDOVER_WINDOW="5", **ports()) as running:
        for name in ("shotwatch", "emulator", "spooler"):
            running.start(name)
        publish(amqp_url, job_event("job-long", {"experiment_0": long}))
        publish(amqp_url, job_event("job-next", {"experiment_0": HOP}))
        tap.collect(lambda seen: len(of(seen, ShotFinished, "job-long")) >= 1, timeout=60)
        # When the second job is cancelled while the first still runs
        publish(amqp_url, _cancel("job-next"))
        events = tap.collect(
            lambda seen: len(of(seen, ShotFinished, "job-long")) >= 29 and bool(of(seen, JobCancelled)),
            timeout=60)
        # Then none of its shots ran, and all of them were reported dropped
        publish(amqp_url, job_event("job-after", {"experiment_0": dict(HOP, shots=1)}))
        events += tap.collect(lambda seen: bool(of(seen, ShotFinished, "job-after")), timeout=60)
    tap.close()
    assert of(events, JobCancelled)[0].shots_dropped == 4
    assert not of(events, ShotFinished, "job-next")
    assert not list((tmp_path / "shots" / "fermions" / "job-next").glob("*/[0-9]*.h5"))


def _cancel(job_id: str):
    from contracts.events import JobCancelRequested

    return JobCancelRequested.create("test", job_id=job_id, backend="fermions", requested_by="alice")
