"""Multi-shot results: durable bookkeeping in any event order, progress, CSV and the result dict."""

from __future__ import annotations

import csv
import random
from datetime import date
from pathlib import Path

import pytest

from contracts.events import JobCancelled, JobDone, JobFailed, JobStatusChanged, ShotArchived
from contracts.job import JobPayload
from services.analysis.bookkeeping import ResultsBook
from services.analysis.results import ResultsKeeper
from services.common.shot_storage import archive_path
from tests.analysis.fakes import deliver
from tests.analysis.shotfiles import BuiltShot, build_job, job_spooled

pytestmark = pytest.mark.labscript


def archived_job(tmp_path: Path, worker, analysislib, backend: str, job_id: str,
                 shots: dict[str, int]) -> dict[str, list[BuiltShot]]:
    """Shots analysed by the real routine and laid out as the archiver leaves them."""
    job = build_job(tmp_path / "spool", backend, job_id, shots)
    out: dict[str, list[BuiltShot]] = {}
    for name, built in job.items():
        out[name] = []
        for shot in built:
            reply = worker.request({"op": "singleshot", "path": str(shot.path),
                                    "routines": [str(analysislib / "occupation.py")]}, 10)
            assert reply.ok, reply.error
            dest = archive_path(tmp_path / "sds", backend, date.today(), job_id, name, shot.shot_index)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shot.path.rename(dest)
            out[name].append(BuiltShot(backend, job_id, name, shot.shot_index, dest, shot.sha256,
                                       shot.size, shot.memory))
    return out


def shot_archived(shot: BuiltShot) -> ShotArchived:
    return ShotArchived.create("test", job_id=shot.job_id, backend=shot.backend,
                               experiment=shot.experiment, shot_index=shot.shot_index,
                               path=str(shot.path), sha256=shot.sha256, size=shot.size,
                               memory=shot.memory)


@pytest.fixture
def keeper_factory(settings, analysislib, worker):
    keepers = []

    def make() -> ResultsKeeper:
        keeper = ResultsKeeper(settings, analysislib, ResultsBook(settings.state_db), worker)
        keepers.append(keeper)
        return keeper

    return make


def test_out_of_order_and_duplicate_events_give_one_correct_result(
        tmp_path, worker, analysislib, keeper_factory, publisher):
    # Given a job of 3 experiments (numeric order differs from text order: 2 < 10)
    job = archived_job(tmp_path, worker, analysislib, "fermions", "job-o",
                       {"experiment_10": 2, "experiment_2": 3, "experiment_0": 1})
    events = [shot_archived(s) for shots in job.values() for s in shots]
    events += events[:3]  # duplicates
    random.Random(4).shuffle(events)
    keeper = keeper_factory()
    # When half the shots arrive before JobSpooled, the rest (and duplicates) after it
    for event in events[:4]:
        deliver(keeper, event, publisher)
    deliver(keeper, job_spooled(job), publisher)
    for event in events[4:]:
        deliver(keeper, event, publisher)
    # Then exactly one JobDone, with the result in the wire contract's shape
    (done,) = publisher.of(JobDone)
    result = done.result
    assert result["status"] == "finished" and result["success"] is True
    assert result["job_id"] == "job-o" and result["qobj_id"] is None
    assert result["backend_name"] == "shotline_fermions_simulator"
    names = [r["header"]["name"] for r in result["results"]]
    assert names == ["experiment_0", "experiment_2", "experiment_10"]
    for entry in result["results"]:
        shots = job[entry["header"]["name"]]
        assert entry["success"] is True and entry["shots"] == len(shots)
        assert entry["data"]["memory"] == [s.memory for s in shots]
    JobPayload.model_validate({n: {"instructions": [[i["name"], i["wires"], i["params"]]
                                                    for i in r["data"]["instructions"]],
                                   "shots": r["shots"], "num_wires": 8}
                               for n, r in zip(names, result["results"])})
    # progress counted every shot once, ending at M of M
    progress = publisher.of(JobStatusChanged)
    assert [p.shots_done for p in progress] == sorted({p.shots_done for p in progress})
    assert progress[-1].detail == "6 of 6 shots done" and progress[-1].shots_total == 6


def test_one_csv_per_experiment_next_to_its_shots(tmp_path, worker, analysislib, keeper_factory, publisher):
    job = archived_job(tmp_path, worker, analysislib, "singlequdit", "job-c",
                       {"experiment_0": 3, "experiment_1": 2})
    keeper = keeper_factory()
    deliver(keeper, job_spooled(job), publisher)
    for shots in job.values():
        for shot in shots:
            deliver(keeper, shot_archived(shot), publisher)
    assert publisher.of(JobDone)
    for name, shots in job.items():
        table = shots[0].path.parent / f"{name}.csv"
        rows = list(csv.DictReader(table.open()))
        assert [r["occupation/memory"] for r in rows] == [s.memory for s in shots]
        assert {r["experiment_name"] for r in rows} == {name}
        assert (shots[0].path.parent / f"{name}.multishot.h5").exists()


def test_bookkeeping_survives_a_restart(tmp_path, worker, analysislib, keeper_factory, publisher):
    job = archived_job(tmp_path, worker, analysislib, "rydberg", "job-r", {"experiment_0": 4})
    shots = job["experiment_0"]
    first = keeper_factory()
    for shot in shots[:2]:
        deliver(first, shot_archived(shot), publisher)
    deliver(first, job_spooled(job), publisher)
    # the process stops; a new one (new connection to the same file) takes over
    second = keeper_factory()
    deliver(second, shot_archived(shots[1]), publisher)  # redelivered: not counted twice
    for shot in shots[2:]:
        deliver(second, shot_archived(shot), publisher)
    (done,) = publisher.of(JobDone)
    assert done.result["results"][0]["data"]["memory"] == [s.memory for s in shots]
    assert [p.shots_done for p in publisher.of(JobStatusChanged)] == [2, 3, 4]


def test_a_cancelled_job_never_completes(tmp_path, worker, analysislib, keeper_factory, publisher):
    job = archived_job(tmp_path, worker, analysislib, "fermions", "job-x", {"experiment_0": 2})
    keeper = keeper_factory()
    deliver(keeper, job_spooled(job), publisher)
    deliver(keeper, JobCancelled.create("test", job_id="job-x", backend="fermions", shots_dropped=1), publisher)
    for shot in job["experiment_0"]:
        deliver(keeper, shot_archived(shot), publisher)
    assert not publisher.of(JobDone)


def test_a_job_failed_elsewhere_never_completes(tmp_path, worker, analysislib, keeper_factory, publisher):
    # Given a job whose analysis of one shot failed (JobFailed from another consumer)
    job = archived_job(tmp_path, worker, analysislib, "fermions", "job-f", {"experiment_0": 2})
    keeper = keeper_factory()
    deliver(keeper, JobFailed.create("test", job_id="job-f", backend="fermions", stage="analysis",
                            reason="routine occupation raised"), publisher)
    deliver(keeper, job_spooled(job), publisher)
    # When every shot still arrives archived
    for shot in job["experiment_0"]:
        deliver(keeper, shot_archived(shot), publisher)
    # Then no result is ever published for it
    assert not publisher.of(JobDone)


def test_an_experiment_without_measurement_has_empty_memory(tmp_path, worker, analysislib,
                                                           keeper_factory, publisher):
    from tests.analysis import shotfiles

    job = shotfiles.build_job(tmp_path / "spool", "fermions", "job-e", {"experiment_0": 2},
                              ([["load", [0], []]], 8))
    keeper = keeper_factory()
    deliver(keeper, job_spooled(job), publisher)
    for shot in job["experiment_0"]:
        assert worker.request({"op": "singleshot", "path": str(shot.path),
                               "routines": [str(analysislib / "occupation.py")]}, 10).ok
        deliver(keeper, shot_archived(shot), publisher)
    (done,) = publisher.of(JobDone)
    assert done.result["results"][0]["data"]["memory"] == []
