"""Every service's own /metrics, scraped after a job ran end to end: the counters moved."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts.topology import (
    ANALYSIS_SHOTS, ARCHIVER_SHOTS, INGEST_JOB_EVENTS, RESULTS_PROGRESS, SPOOLER_JOBS,
)
from contracts.topology import SPOOLER_SHOT_PROGRESS
from tests.support.stack import SERVICES, Stack

pytestmark = [pytest.mark.rabbit, pytest.mark.e2e]
SHOTS = 6
JOB = {"experiment_0": {"instructions": [["load", [0], [20]], ["rlx", [0], [0.7]], ["measure", [0], []]],
                        "num_wires": 1, "shots": SHOTS, "seed": 3}}


class Scrape:
    """One service's samples: ``value(name, **labels)`` sums the samples whose labels match."""

    def __init__(self, text: str) -> None:
        self.samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def value(self, name: str, **labels: str) -> float:
        found = [s.value for s in self.samples
                 if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
        assert found, f"no sample {name}{labels}"
        return sum(found)


@pytest.fixture
def stack(tmp_path: Path, amqp_url: str) -> Iterator[Stack]:
    # A cycle time makes the emulator's busy time measurable, as on the apparatus.
    with Stack(tmp_path / "home", amqp_url, cycle_s=0.05, metrics=True) as running:
        running.start()
        running.add_user("alice")
        yield running


def test_each_service_exposes_its_counters_after_a_job(stack: Stack):
    # Given one job of SHOTS shots, run end to end through the HTTP API
    job_id = stack.post_job("singlequdit", JOB)
    assert stack.wait_final("singlequdit", job_id)["status"] == "DONE"
    # When every service's /metrics is scraped
    m = {name: Scrape(stack.metrics(name)) for name in SERVICES}
    # Then the ingest reports the job as DONE, read from its store
    assert m["ingest"].value("shotline_jobs", status="DONE") == 1
    assert m["ingest"].value("shotline_jobs", status="ERROR") == 0
    assert m["ingest"].value("shotline_messages_consumed_total", queue=INGEST_JOB_EVENTS.name) >= 2
    assert m["ingest"].value("shotline_events_published_total", type="JobSubmitted") == 1
    # ... the spooler counted its gated job route and its ShotFinished listener
    spooler = m["spooler"]
    assert spooler.value("shotline_messages_consumed_total", queue=SPOOLER_JOBS.name) == 1
    assert spooler.value("shotline_messages_settled_total", queue=SPOOLER_JOBS.name, fate="ack") == 1
    assert spooler.value("shotline_handler_seconds_count", queue=SPOOLER_JOBS.name) == 1
    assert spooler.value("shotline_messages_consumed_total", queue=SPOOLER_SHOT_PROGRESS.name) >= SHOTS
    # ... the emulator was busy for part of the last minute, and for at least the cycle times
    busy = m["emulator"].value("shotline_executor_busy_ratio")
    assert 0 < busy <= 1
    assert m["emulator"].value("shotline_executor_busy_seconds_total") >= SHOTS * 0.05
    assert m["shotwatch"].value("shotline_events_published_total", type="ShotFinished") == SHOTS
    # ... analysis consumed and timed every shot, and the results consumer every event
    analysis = m["analysis"]
    assert analysis.value("shotline_messages_consumed_total", queue=ANALYSIS_SHOTS.name) >= SHOTS
    assert analysis.value("shotline_handler_seconds_count", queue=ANALYSIS_SHOTS.name) >= SHOTS
    assert analysis.value("shotline_messages_consumed_total", queue=RESULTS_PROGRESS.name) >= SHOTS + 1
    assert analysis.value("shotline_events_published_total", type="JobDone") == 1
    # ... the archiver wrote every shot's bytes into the archive
    archiver = m["archiver"]
    written = sum(p.stat().st_size for p in (stack.home / "sds").rglob("*.h5")
                  if not p.name.endswith(".multishot.h5"))
    assert archiver.value("shotline_archive_bytes_total") == written > 0
    assert archiver.value("shotline_messages_settled_total", queue=ARCHIVER_SHOTS.name,
                          fate="ack") >= SHOTS
    # ... and nothing was dead-lettered anywhere
    for name, scrape in m.items():
        dead = [s for s in scrape.samples
                if s.name == "shotline_messages_settled_total" and s.labels["fate"] == "dead"]
        assert all(s.value == 0 for s in dead), (name, dead)
