"""Per-shot cost of analysis, archiving and multi-shot results over 1,000 shots (prints a table).

Two measurements:

* stages, in-process, one at a time: the analysis handler's work per shot (lock, checksum,
  routine in the long-lived lyse worker, marker), the archive protocol per shot (copy, fsync,
  verify, rename, directory fsync, remove), and the results bookkeeping per shot (one durable
  SQLite commit) plus the job's final DataFrame, CSV, multi-shot routine and result;
* the pipeline, on the real broker with every service as its own process: 1,000 ShotFinished
  published at once, wall time until JobDone (the saturated throughput, bus included), and the
  time from the last ShotArchived to JobDone (what the job's end adds).

Usage: python tests/bench/bench_pipeline.py [--shots 1000] [--no-broker]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("READTHEDOCS", "1")

from tests.analysis.shotfiles import build_job, job_spooled, shot_finished  # noqa: E402

from contracts.events import JobDone, JobFailed, ShotArchived  # noqa: E402
from services.analysis.bookkeeping import ResultsBook  # noqa: E402
from services.analysis.registry import ANALYSES  # noqa: E402
from services.analysis.results import ResultsKeeper  # noqa: E402
from services.analysis.routine_worker import RoutineWorker  # noqa: E402
from services.analysis.service import prepare_routines  # noqa: E402
from services.analysis.settings import AnalysisSettings  # noqa: E402
from services.analysis.singleshot import analyse_shot  # noqa: E402
from services.common.shot_storage import archive_path  # noqa: E402
from services.archiver.transfer import archive_shot  # noqa: E402
from tests.analysis.fakes import RecordingPublisher, deliver  # noqa: E402

BACKEND = "fermions"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(name: str, per_shot_s: list[float] | None, total_s: float, shots: int) -> str:
    if per_shot_s:
        p50, p95 = statistics.median(per_shot_s) * 1e3, percentile(per_shot_s, 0.95) * 1e3
        return f"| {name} | {total_s / shots * 1e3:.2f} | {p50:.2f} | {p95:.2f} | {total_s:.2f} |"
    return f"| {name} | {total_s / shots * 1e3:.2f} | | | {total_s:.2f} |"


def bench_stages(workdir: Path, shots: int) -> list[str]:
    experiments = {"experiment_0": shots // 2, "experiment_1": shots - shots // 2}
    # Shots where the spooler would put them: the services touch no file elsewhere.
    job = build_job(workdir / "home" / "shots" / BACKEND, BACKEND, "bench-stages", experiments)
    settings = AnalysisSettings(home=workdir / "home")
    routines = prepare_routines()
    worker = RoutineWorker("bench")
    worker.start()

    def run(path: str, names) -> object:
        return worker.request({"op": "singleshot", "path": path, "routines": list(names)}, 30)

    lines = []
    all_shots = [s for built in job.values() for s in built]
    analysed, times = {}, []
    t0 = time.perf_counter()
    for shot in all_shots:
        t = time.perf_counter()
        outcome = analyse_shot(shot.path, shot.sha256, ANALYSES[BACKEND], routines, run,
                               settings.lock_dir)
        times.append(time.perf_counter() - t)
        assert outcome.memory == shot.memory
        analysed[shot.path] = outcome
    lines.append(row("analysis (lock, sha256, lyse routine in worker, marker, sha256)", times,
                     time.perf_counter() - t0, shots))

    sds = workdir / "sds"
    sds.mkdir()
    archived, times = [], []
    t0 = time.perf_counter()
    for shot in all_shots:
        dest = archive_path(sds, BACKEND, date.today(), shot.job_id, shot.experiment, shot.shot_index)
        t = time.perf_counter()
        result = archive_shot(shot.path, dest, sds, analysed[shot.path].sha256)
        times.append(time.perf_counter() - t)
        archived.append((shot, result))
    lines.append(row("archiving (copy+fsync, verify, rename, dir fsync, remove)", times,
                     time.perf_counter() - t0, shots))

    from contracts.events import ShotArchived

    keeper = ResultsKeeper(settings, routines, ResultsBook(settings.state_db), RoutineWorker("bench-m"))
    publisher = RecordingPublisher()
    deliver(keeper, job_spooled(job), publisher)
    events = [ShotArchived.create("bench", job_id=s.job_id, backend=s.backend,
                                  experiment=s.experiment, shot_index=s.shot_index,
                                  path=str(r.path), sha256=r.sha256, size=r.size,
                                  memory=analysed[s.path].memory) for s, r in archived]
    keeper._worker.start()  # worker start-up is paid once per process, not per job
    times = []
    t0 = time.perf_counter()
    for event in events[:-1]:
        t = time.perf_counter()
        deliver(keeper, event, publisher)
        times.append(time.perf_counter() - t)
    lines.append(row("results bookkeeping per ShotArchived (SQLite commit, progress)", times,
                     time.perf_counter() - t0, shots))
    t = time.perf_counter()
    deliver(keeper, events[-1], publisher)
    final = time.perf_counter() - t
    assert publisher.of(JobDone), publisher.of(JobFailed)
    lines.append(row("multi-shot at job end (lyse DataFrame, CSV, routine, result)", None, final, shots))
    keeper.close()
    worker.stop()
    return lines


def bench_broker(workdir: Path, shots: int, analysis_processes: int) -> list[str]:
    from services.common.bus import Publisher
    from services.common.bus.admin import Management
    from tests.analysis.test_pipeline_broker import Capture

    base = os.environ.get("SHOTLINE_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672")
    mgmt = Management(os.environ.get("SHOTLINE_TEST_MANAGEMENT", "http://127.0.0.1:15672"), base + "/")
    vhost = f"bench-{uuid.uuid4().hex[:8]}"
    mgmt.create_vhost(vhost)
    amqp_url = f"{base}/{quote(vhost, safe='')}"
    procs = []
    try:
        import pika

        from contracts.topology import QUEUES
        from services.common.bus.declare import declare_queues

        conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
        declare_queues(conn.channel(), QUEUES)
        conn.close()
        job = build_job(workdir / "home-b" / "shots" / BACKEND, BACKEND, "bench-broker",
                        {"experiment_0": shots // 2, "experiment_1": shots - shots // 2})
        env = {**os.environ, "SHOTLINE_METRICS_PORT": "0", "SHOTLINE_AMQP_URL": amqp_url, "SHOTLINE_HOME": str(workdir / "home-b"),
               "SHOTLINE_LOG_FORMAT": "json", "SHOTLINE_LOG_LEVEL": "WARNING"}
        for name in ["analysis"] * analysis_processes + ["archiver"]:
            procs.append(subprocess.Popen([sys.executable, "-m", "services.cli.main", name], env=env))
        from contracts.topology import RoutingKey, any_backend

        capture = Capture(amqp_url, tuple(any_backend(k) for k in (
            RoutingKey.SHOT_ARCHIVED, RoutingKey.JOB_DONE, RoutingKey.JOB_FAILED)))
        publisher = Publisher(amqp_url, "bench")
        announcements = [shot_finished(s) for built in job.values() for s in built]
        publisher.publish(job_spooled(job))
        # Services warm up (lyse worker import) before the clock starts: one shot first.
        publisher.publish(announcements[0])
        capture.until(lambda evs: any(isinstance(e, ShotArchived) for e in evs), timeout=60)
        t0 = time.perf_counter()
        for event in announcements[1:]:
            publisher.publish(event)
        published = time.perf_counter() - t0
        seen: dict[str, float] = {}

        def done(evs) -> bool:
            now = time.perf_counter()
            if evs and isinstance(evs[-1], ShotArchived):
                seen["last_archived"] = now
            return any(isinstance(e, (JobDone, JobFailed)) for e in evs)

        events = capture.until(done, timeout=600)
        wall = time.perf_counter() - t0
        assert not [e for e in events if isinstance(e, JobFailed)], "job failed"
        tail = wall - (seen["last_archived"] - t0)
        publisher.close()
        capture.close()
        n = shots - 1
        return [
            f"| pipeline on the broker, {analysis_processes} analysis process(es), saturated "
            f"({n} shots published in {published:.2f} s) "
            f"| {wall / n * 1e3:.2f} | | | {wall:.2f} |",
            f"| of which: last ShotArchived -> JobDone | {tail / n * 1e3:.2f} | | | {tail:.2f} |",
        ]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        mgmt.delete_vhost(vhost)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=1000)
    parser.add_argument("--no-broker", action="store_true")
    parser.add_argument("--analysis-processes", type=int, nargs="+", default=[1, 2],
                        help="run the broker measurement once per value")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="shotline-bench-"))
    try:
        lines = bench_stages(workdir, args.shots)
        if not args.no_broker:
            for n in args.analysis_processes:
                lines += bench_broker(workdir / f"broker-{n}", args.shots, n)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{args.shots} shots ({BACKEND}, 2 experiments), {os.cpu_count()} cores\n")
    print("| stage | ms/shot (mean) | p50 ms | p95 ms | total s |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
