"""Cancelling a running job through the HTTP API: it ends CANCELLED, and the apparatus runs only
the shot in progress and the one already queued in it (the spooler's hand-over window of 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.e2e.test_pipeline import EventTap
from tests.support.stack import Stack

pytestmark = [pytest.mark.rabbit, pytest.mark.e2e]
LONG_JOB = {"experiment_0": {"instructions": [["load", [0], []], ["measure", [0], []]],
                             "num_wires": 8, "shots": 40}}
SHORT_JOB = {"experiment_0": {"instructions": [["load", [1], []], ["measure", [1], []]],
                              "num_wires": 8, "shots": 1}}


def test_a_running_job_stops_after_the_shots_already_in_the_executor(tmp_path: Path, amqp_url: str):
    tap = EventTap(amqp_url, "shot.finished.*")
    # A 0.2 s cycle: the apparatus is slow enough that the job is still running when cancelled
    with Stack(tmp_path / "home", amqp_url, cycle_s=0.2) as stack:
        stack.start()
        stack.add_user("alice")
        job_id = stack.post_job("fermions", LONG_JOB)
        finished = [e for e in tap.wait_for(lambda e: e["job_id"] == job_id) if e["job_id"] == job_id]
        # When the owner cancels while it runs
        reply = requests.delete(f"{stack.base_url}/api/v2/jobs/{job_id}",
                                headers={"Authorization": f"Bearer {stack.token}"}, timeout=30)
        finished += [e for e in tap.drain() if e["job_id"] == job_id]
        at_cancel = len(finished)
        assert reply.status_code == 202, reply.text
        # Then it ends CANCELLED, and its result says so in the form qiskit stops polling on
        assert stack.wait_final("fermions", job_id)["status"] == "CANCELLED"
        assert stack.result("fermions", job_id)["status"] == "error"
        # A job submitted afterwards runs after everything that was queued in the executor
        assert stack.wait_final("fermions", stack.post_job("fermions", SHORT_JOB))["status"] == "DONE"
        finished += [e for e in tap.drain() if e["job_id"] == job_id]
    tap.close()
    # Only the shot running at the cancel and at most one queued behind it were added
    assert at_cancel <= len(finished) <= at_cancel + 2 < LONG_JOB["experiment_0"]["shots"], \
        json.dumps({"at_cancel": at_cancel, "total": len(finished)})
