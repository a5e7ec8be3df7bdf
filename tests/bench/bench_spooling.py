"""Spooling benchmark: template compile vs compiling every shot, latency and executor duty cycle.

Run: `.venv/bin/python tests/bench/bench_spooling.py [jobs] [shots per experiment]` (default
10 jobs of 2 experiments x 50 shots). Part 1 compiles in this process. Part 2 runs spooler,
emulator (100 ms cycle) and shotwatch as processes on a fresh vhost of the local broker and
times submit -> first ShotFinished; the duty cycle comes from the emulator's per-shot
start/finish times: busy time over the span from the first shot's start to the last one's end.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ["READTHEDOCS"] = "1"

from services.spooler.labscript_env import prepare_labscript  # noqa: E402

PROFILE = prepare_labscript()
sys.excepthook = sys.__excepthook__  # labscript's hook opens a Tk window per uncaught error

import h5py  # noqa: E402

from contracts.events import ShotFinished  # noqa: E402
from services.common.bus.admin import Management  # noqa: E402
from services.spooler.compiler import (  # noqa: E402
    TemplateRequest, compile_shot, compile_template, derive_shot, per_shot_attrs,
)
from services.spooler.shot_globals import experiment_globals  # noqa: E402
from tests.conftest import AMQP_BASE, MANAGEMENT_URL, free_port  # noqa: E402
from tests.spooler.harness import Tap, declare_topology, job_event, of, publish, services  # noqa: E402

CYCLE_S = 0.1


def experiment(job: int, k: int, shots: int) -> dict:
    return {"instructions": [["load", [0], []], ["load", [1], []],
                             ["fhop", [0, 1, 2, 3], [0.1 + 0.01 * job + 0.3 * k]],
                             ["measure", [0], []], ["measure", [2], []]],
            "num_wires": 8, "shots": shots, "wire_order": "interleaved"}


def compile_part(jobs: int, shots: int, work: Path) -> dict[str, float]:
    script = str(PROFILE.labscriptlib / "sequence_fermions.py")
    template_s, every_s = [], []
    warm = TemplateRequest(script, str(work / "warm.h5"), "warm", "experiment_0",
                           experiment_globals("warm", "fermions", "experiment_0", 0,
                                              experiment(0, 0, 1), 1), datetime.now())
    work.mkdir(parents=True)
    compile_template(warm)  # the first compile pays labscript's lazy imports; keep it out
    for job in range(jobs):
        for k in range(2):
            g = experiment_globals(f"bench{job}", "fermions", f"experiment_{k}", k,
                                   experiment(job, k, shots), 1)
            folder = work / f"bench{job}" / f"experiment_{k}"
            folder.mkdir(parents=True)
            req = TemplateRequest(script, str(folder / "template.h5"), f"bench{job}", f"experiment_{k}",
                                  g, datetime.now())
            start = time.perf_counter()
            compile_template(req)
            for shot in range(shots):
                derive_shot(req.template, str(folder / f"{shot:04d}.h5"), per_shot_attrs(g, shot))
            template_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            for shot in range(shots):
                compile_shot(req, str(folder / f"fresh{shot:04d}.h5"), shot)
            every_s.append(time.perf_counter() - start)
    t, e = statistics.mean(template_s), statistics.mean(every_s)
    return {"template_per_experiment_s": t, "template_per_shot_ms": 1000 * t / shots,
            "every_per_experiment_s": e, "every_per_shot_ms": 1000 * e / shots, "ratio": e / t}


def pipeline_part(jobs: int, shots: int, home: Path) -> dict[str, float]:
    management = Management(MANAGEMENT_URL, AMQP_BASE + "/")
    home.mkdir(parents=True)
    vhost = f"bench-{uuid.uuid4().hex[:8]}"
    management.create_vhost(vhost)
    amqp_url = f"{AMQP_BASE}/{quote(vhost, safe='')}"
    try:
        declare_topology(amqp_url)
        tap = Tap(amqp_url, "shot.finished.*")
        env = {"SHOTLINE_BLACS_PORT": str(free_port()), "SHOTLINE_LYSE_PORT": str(free_port()),
               "SHOTLINE_EMULATOR_CYCLE_S": str(CYCLE_S), "SHOTLINE_LOG_LEVEL": "WARNING"}
        with services(home, amqp_url, **env) as running:
            for name in ("shotwatch", "emulator", "spooler"):
                running.start(name)
            time.sleep(3.0)  # let the services finish importing labscript: latency, not start-up
            submitted = time.monotonic()
            for job in range(jobs):
                publish(amqp_url, job_event(f"bench{job}", {f"experiment_{k}": experiment(job, k, shots)
                                                            for k in range(2)}))
            first = tap.collect(lambda seen: len(seen) >= 1, timeout=120)
            latency = time.monotonic() - submitted
            rest = tap.collect(lambda seen: len(seen) + 1 >= jobs * 2 * shots, timeout=jobs * shots * 2 * 1.0)
        tap.close()
        finished = of(first + rest, ShotFinished)
        spans = []
        for event in finished:
            with h5py.File(event.path, "r") as f:
                truth = f["data/emulator"].attrs
                spans.append((float(truth["started"]), float(truth["finished"])))
        busy = sum(end - start for start, end in spans)
        wall = max(end for _, end in spans) - min(start for start, _ in spans)
        return {"shots": len(finished), "first_shot_latency_s": latency, "duty_cycle": busy / wall,
                "wall_s": wall}
    finally:
        management.delete_vhost(vhost)


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    shots = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    with tempfile.TemporaryDirectory() as tmp:
        c = compile_part(jobs, shots, Path(tmp) / "compile")
        p = pipeline_part(jobs, shots, Path(tmp) / "home")
    print(f"\n{jobs} jobs x 2 experiments x {shots} shots (fermions), 2-core machine")
    print("| measure | value |\n| --- | --- |")
    print(f"| compile, template + derive, per experiment | {c['template_per_experiment_s'] * 1000:.0f} ms |")
    print(f"| compile, template + derive, per shot | {c['template_per_shot_ms']:.2f} ms |")
    print(f"| compile every shot, per experiment | {c['every_per_experiment_s'] * 1000:.0f} ms |")
    print(f"| compile every shot, per shot | {c['every_per_shot_ms']:.2f} ms |")
    print(f"| ratio every-shot / template | {c['ratio']:.1f}x |")
    print(f"| submit -> first ShotFinished | {p['first_shot_latency_s'] * 1000:.0f} ms |")
    print(f"| executor duty cycle, {CYCLE_S * 1000:.0f} ms cycle, {p['shots']} shots | "
          f"{100 * p['duty_cycle']:.2f} % over {p['wall_s']:.1f} s |")


if __name__ == "__main__":
    main()
