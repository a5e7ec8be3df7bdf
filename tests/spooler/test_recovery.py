"""After a restart the feeder recovers its hand-over state from the files: shots that already left
the spool count as finished, and a shot handed over just before the crash is not run twice."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

from services.spooler import feeder as feeder_module
from services.spooler.book import ExperimentRecord, JobBook, JobRecord
from services.spooler.feeder import Feeder
from services.spooler.settings import SpoolerSettings


class NoPublisher:
    def publish(self, event) -> None:
        raise AssertionError(f"nothing to publish here: {event!r}")


def record(tmp_path: Path, shots: int) -> JobRecord:
    folder = tmp_path / "shots" / "fermions" / "job-r" / "experiment_0"
    folder.mkdir(parents=True)
    exp = ExperimentRecord("experiment_0", 0, shots, str(folder), str(folder / "template.h5"), 7)
    return JobRecord("job-r", "fermions", [exp])


def write_shot(path: str, executed: bool) -> None:
    with h5py.File(path, "w") as f:
        if executed:
            f.attrs["run time"] = "20260101T000000.000000"


@pytest.fixture
def book(tmp_path: Path) -> JobBook:
    return JobBook(tmp_path / "spooler", jobs_in_hand=2)


def test_handed_shots_already_archived_count_as_finished(tmp_path, book):
    # Given a job whose three shots were handed over before a restart: one still in the spool
    # unexecuted, one executed, and one already moved to the archive
    job = record(tmp_path, 3)
    assert book.admit(job)
    for _ in range(3):
        book.mark_derived(job.job_id)
        book.mark_handed(job.job_id)
    exp = job.experiments[0]
    write_shot(exp.shot_path(0), executed=False)
    write_shot(exp.shot_path(1), executed=True)
    restarted = JobBook(tmp_path / "spooler", jobs_in_hand=2)
    # When the restarted feeder looks at the files
    Feeder(SpoolerSettings(home=tmp_path), restarted, "spooler")._recover_finished()
    # Then only the unexecuted shot is still outstanding
    (active,) = restarted.active()
    assert active.finished == {1, 2} and active.outstanding == 1
    # And once it runs and is archived too, the job ends and frees the hand-over window
    Path(exp.shot_path(0)).unlink()
    Feeder(SpoolerSettings(home=tmp_path), restarted, "spooler")._recover_finished()
    assert restarted.active() == [] and restarted.get(job.job_id).state == "done"


def test_a_shot_handed_and_archived_before_mark_handed_is_not_run_again(tmp_path, book,
                                                                        monkeypatch):
    submitted, derived = [], []
    monkeypatch.setattr(feeder_module, "submit_shot", lambda path, *a: submitted.append(path))
    monkeypatch.setattr(feeder_module, "derive_shot", lambda t, path, attrs: derived.append(path))
    job = record(tmp_path, 2)
    assert book.admit(job)
    # Given shot 0 derived and handed over, and the spooler killed before it recorded that;
    # the shot then ran and was archived (its spool file moved away)
    book.mark_derived(job.job_id)
    restarted = JobBook(tmp_path / "spooler", jobs_in_hand=2)
    feeder = Feeder(SpoolerSettings(home=tmp_path), restarted, "spooler")
    # When the restarted feeder takes up shot 0 again
    handover = restarted.next_handover(window=20)
    assert (handover.shot_index, handover.first) == (0, True)
    monkeypatch.setattr(feeder, "_publish", lambda publisher, job, cls, **fields: None)
    feeder._hand_over(handover, NoPublisher())
    # Then it is recorded as handed without being derived or handed over a second time
    assert (derived, submitted) == ([], [])
    assert restarted.get(job.job_id).handed == 1
    # And the next shot, never derived, is derived and handed over as usual
    feeder._hand_over(restarted.next_handover(window=20), NoPublisher())
    assert derived == submitted == [job.experiments[0].shot_path(1)]
    assert restarted.get(job.job_id).handed == 2


def test_a_compile_and_a_derive_killed_midway_leave_no_stray_file(tmp_path):
    # Found by the chaos run: a spooler SIGKILLed mid-compile left a randomly named
    # .compiling.*.h5 in the spool for good; the retry now reuses the name.
    from datetime import datetime

    from services.spooler.compiler import (
        TemplateRequest, compile_template, derive_shot, per_shot_attrs,
    )
    from services.spooler.labscript_env import prepare_labscript
    from services.spooler.shot_globals import experiment_globals

    folder = tmp_path / "shots" / "fermions" / "job-c" / "experiment_0"
    folder.mkdir(parents=True)
    # Given what killed attempts left: half-written working files
    (folder / ".compiling.template.h5").write_bytes(b"half a compile")
    (folder / ".deriving.0000.h5").write_bytes(b"half a copy")
    g = experiment_globals("job-c", "fermions", "experiment_0", 0, {
        "instructions": [["load", [1], []], ["measure", [1], []]], "num_wires": 8, "shots": 1}, 3)
    script = prepare_labscript().labscriptlib / "sequence_fermions.py"
    request = TemplateRequest(str(script), str(folder / "template.h5"), "job-c", "experiment_0",
                              g, datetime.now())
    # When the compile and the derive are retried
    compile_template(request)
    derive_shot(request.template, str(folder / "0000.h5"), per_shot_attrs(g, 0))
    # Then only the template and the shot are there
    assert sorted(p.name for p in folder.iterdir()) == ["0000.h5", "template.h5"]
