"""An executor that stops returning shots (a hung BLACS, a lost shot) fails the job after
SHOTLINE_SHOT_TIMEOUT_S instead of holding it, and every job behind it, forever."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.stack import Stack

pytestmark = [pytest.mark.rabbit, pytest.mark.e2e]
JOB = {"experiment_0": {"instructions": [["load", [0], []], ["measure", [0], []]],
                        "num_wires": 8, "shots": 3}}


def test_a_job_whose_shots_never_come_back_fails_at_the_execution_stage(tmp_path: Path, amqp_url: str):
    # Given an apparatus whose cycle takes an hour: handed-over shots do not come back
    settings = {"SHOTLINE_SHOT_TIMEOUT_S": "2", "SHOTLINE_RESCAN_INTERVAL_S": "0.5"}
    with Stack(tmp_path / "home", amqp_url, cycle_s=3600, extra_env=settings) as stack:
        stack.start()
        stack.add_user("alice")
        job_id = stack.post_job("fermions", JOB)
        # Then the job ends in ERROR, saying what the executor never returned
        status = stack.wait_final("fermions", job_id, timeout=60)
        assert status["status"] == "ERROR"
        assert "no shot finished for 2 s" in status["error_message"]
        assert "experiment_0 shot 0" in status["error_message"]
        assert stack.result("fermions", job_id)["status"] == "error"
