"""The ShotFinished handler: once per shot whatever the deliveries, failures become JobFailed."""

from __future__ import annotations

import h5py
import pytest

from contracts.events import JobFailed, ShotAnalysed
from services.analysis.routine_worker import RoutineWorker
from services.analysis.settings import AnalysisSettings
from services.common.shot_storage import sha256_of
from services.common.bus import PermanentError
from services.analysis.singleshot import ShotAnalyser
from tests.analysis.conftest import analyses_with
from tests.analysis.fakes import deliver
from tests.analysis.shotfiles import build_job, shot_finished

pytestmark = pytest.mark.labscript


class CountingWorker(RoutineWorker):
    """The real worker, counting the routine runs it was asked for."""

    def __init__(self, inner: RoutineWorker) -> None:
        self.inner, self.requests = inner, 0

    def request(self, payload, timeout_s, before_retry=None):
        self.requests += 1
        return self.inner.request(payload, timeout_s, before_retry)

    def start(self) -> None:
        self.inner.start()

    def stop(self) -> None:
        pass


def test_same_shot_finished_twice_analyses_once(tmp_path, settings, analysislib, worker, publisher):
    # Given an executed shot and its announcement
    shot = build_job(tmp_path, "fermions", "job-i", {"experiment_0": 1})["experiment_0"][0]
    counting = CountingWorker(worker)
    analyser = ShotAnalyser(settings, analysislib, counting)
    event = shot_finished(shot)
    # When it is delivered twice (the second time as a redelivery)
    deliver(analyser, event, publisher)
    with h5py.File(shot.path, "r") as f:
        first_marker = dict(f["results"].attrs)
    deliver(analyser, event, publisher, redelivered=True)
    # Then the routines ran once, the file is unchanged, and both deliveries confirm the same
    assert counting.requests == 1
    with h5py.File(shot.path, "r") as f:
        assert dict(f["results"].attrs) == first_marker
    first, second = publisher.of(ShotAnalysed)
    assert first.memory == second.memory == shot.memory
    assert first.sha256 == second.sha256 and first.sha256 != shot.sha256
    assert first.size == second.size
    assert not publisher.of(JobFailed)


def test_failing_routine_fails_the_job_and_the_next_shot_is_analysed(
        tmp_path, settings, routines_dir, worker, publisher):
    job = build_job(tmp_path, "rydberg", "job-f", {"experiment_0": 2})["experiment_0"]
    broken = ShotAnalyser(settings, routines_dir, worker, analyses_with("broken.py"))
    deliver(broken, shot_finished(job[0]), publisher)
    (failed,) = publisher.of(JobFailed)
    assert failed.stage == "analysis" and failed.job_id == "job-f"
    assert failed.reason.startswith("experiment_0 shot 0: analysis routine broken raised ValueError")
    assert not publisher.of(ShotAnalysed)
    # the same worker (the service) goes on with the next message
    healthy = ShotAnalyser(settings, routines_dir, worker)
    deliver(healthy, shot_finished(job[1]), publisher)
    (analysed,) = publisher.of(ShotAnalysed)
    assert analysed.memory == job[1].memory


def test_a_hanging_routine_fails_the_shot_by_name(tmp_path, routines_dir, publisher):
    from services.analysis.settings import AnalysisSettings

    settings = AnalysisSettings(home=tmp_path / "home", shots_root=tmp_path, analysis_routine_timeout_s=1.0)
    shot = build_job(tmp_path, "fermions", "job-t", {"experiment_0": 1})["experiment_0"][0]
    analyser = ShotAnalyser(settings, routines_dir, RoutineWorker("t"), analyses_with("hangs.py"))
    try:
        deliver(analyser, shot_finished(shot), publisher)
    finally:
        analyser.close()
    (failed,) = publisher.of(JobFailed)
    assert "analysis routine(s) hangs, occupation did not finish within 1 s" in failed.reason


def test_a_routine_without_memory_fails_the_shot(tmp_path, settings, routines_dir, worker, publisher):
    from services.analysis.registry import BackendAnalysis

    spec = {"fermions": BackendAnalysis(("forgets_memory.py",), "forgets_memory.py")}
    shot = build_job(tmp_path, "fermions", "job-m", {"experiment_0": 1})["experiment_0"][0]
    deliver(ShotAnalyser(settings, routines_dir, worker, spec), shot_finished(shot), publisher)
    (failed,) = publisher.of(JobFailed)
    assert "forgets_memory: routine forgets_memory saved no 'memory' result" in failed.reason


def test_a_file_changed_since_execution_is_refused(tmp_path, settings, analysislib, worker, publisher):
    shot = build_job(tmp_path, "fermions", "job-c", {"experiment_0": 1})["experiment_0"][0]
    with h5py.File(shot.path, "r+") as f:
        f.attrs["tampered"] = 1
    deliver(ShotAnalyser(settings, analysislib, worker), shot_finished(shot), publisher)
    (failed,) = publisher.of(JobFailed)
    assert "shot file changed since it was executed" in failed.reason


def test_a_shot_already_archived_is_just_acknowledged(tmp_path, settings, analysislib, worker, publisher):
    from services.common.shot_storage import archive_path
    from datetime import date

    shot = build_job(tmp_path, "fermions", "job-a", {"experiment_0": 1})["experiment_0"][0]
    dest = archive_path(settings.archive_root, "fermions", date(2026, 1, 2), "job-a",
                        "experiment_0", 0)
    dest.parent.mkdir(parents=True)
    shot.path.rename(dest)  # what the archiver did before this late redelivery
    deliver(ShotAnalyser(settings, analysislib, worker), shot_finished(shot), publisher)
    assert publisher.events == []


def test_a_missing_shot_fails_the_job(tmp_path, settings, analysislib, worker, publisher):
    shot = build_job(tmp_path, "fermions", "job-g", {"experiment_0": 1})["experiment_0"][0]
    shot.path.unlink()
    deliver(ShotAnalyser(settings, analysislib, worker), shot_finished(shot), publisher)
    (failed,) = publisher.of(JobFailed)
    assert "does not exist" in failed.reason


def test_a_shot_the_executor_could_not_run_fails_the_job_at_execution(tmp_path, settings, analysislib,
                                                                      worker, publisher):
    # Given an executed shot on which the emulator recorded a simulation error
    shot = build_job(tmp_path, "fermions", "job-e", {"experiment_0": 1})["experiment_0"][0]
    with h5py.File(shot.path, "r+") as f:
        f.require_group("data/emulator").attrs["error"] = "wire 3 changes after it was measured"
    # When it is analysed
    deliver(ShotAnalyser(settings, analysislib, worker), shot_finished(shot), publisher)
    # Then the job fails at the execution stage with the executor's words, and nothing is analysed
    (failed,) = publisher.of(JobFailed)
    assert failed.stage == "execution"
    assert "experiment_0 shot 0: the executor could not run the shot: wire 3 changes" in failed.reason
    assert not publisher.of(ShotAnalysed)


def test_a_duplicate_racing_the_archiver_is_just_acknowledged(tmp_path, settings, analysislib, worker,
                                                              publisher, monkeypatch):
    # Found by the chaos run: the file existed when the duplicate arrived, the archiver moved it
    # away a moment later, and the failed open turned the job into ERROR.
    from datetime import date

    from services.analysis import shotfile
    from services.common.shot_storage import archive_path

    shot = build_job(tmp_path, "fermions", "job-r", {"experiment_0": 1})["experiment_0"][0]
    dest = archive_path(settings.archive_root, "fermions", date(2026, 1, 2), "job-r",
                        "experiment_0", 0)
    dest.parent.mkdir(parents=True)
    real = shotfile.executor_failure

    def archived_meanwhile(path):
        shot.path.rename(dest)  # the archiver, between the existence check and the open
        return real(path)

    monkeypatch.setattr(shotfile, "executor_failure", archived_meanwhile)
    deliver(ShotAnalyser(settings, analysislib, worker), shot_finished(shot), publisher)
    assert publisher.events == []


def test_a_file_outside_the_shot_folders_is_never_touched(tmp_path, analysislib, worker, publisher):
    # Given a ShotFinished naming a real HDF5 file that is not in the shot folders
    shot = build_job(tmp_path / "elsewhere", "fermions", "job-x", {"experiment_0": 1})["experiment_0"][0]
    settings = AnalysisSettings(home=tmp_path / "home", shots_root=tmp_path / "home" / "shots")
    before = sha256_of(shot.path)
    # Then it is refused as a bad message (dead-lettered), and the file is left as it was
    with pytest.raises(PermanentError, match="not under the shot folders"):
        deliver(ShotAnalyser(settings, analysislib, worker), shot_finished(shot), publisher)
    assert sha256_of(shot.path) == before and not publisher.of(ShotAnalysed)


class Killed(BaseException):
    """Stands for the SIGKILL of the analysis process in the middle of a routine."""


def test_an_attempt_killed_mid_routine_does_not_make_the_shot_look_tampered(
        tmp_path, settings, analysislib, worker, publisher):
    # A routine killed midway may have changed the working file's bytes without leaving a
    # results group; the redelivery must not refuse the shot as "changed since it was executed".
    shot = build_job(tmp_path, "fermions", "job-k", {"experiment_0": 1})["experiment_0"][0]

    class KilledMidRoutine(CountingWorker):
        def request(self, payload, timeout_s, before_retry=None):
            with h5py.File(payload["path"], "r+") as f:
                f.attrs["half_written"] = 1  # bytes the routine got onto the disk before dying
            raise Killed()

    with pytest.raises(Killed):
        deliver(ShotAnalyser(settings, analysislib, KilledMidRoutine(worker)), shot_finished(shot),
                publisher)
    # When the message is redelivered to the restarted service
    deliver(ShotAnalyser(settings, analysislib, worker), shot_finished(shot), publisher)
    # Then the shot is analysed as usual, and no working copy is left next to it
    (analysed,) = publisher.of(ShotAnalysed)
    assert analysed.memory == shot.memory and not publisher.of(JobFailed)
    assert sorted(p.name for p in shot.path.parent.iterdir()) == [shot.path.name]
