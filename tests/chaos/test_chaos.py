"""Short chaos variant for CI: jobs survive SIGKILLed services and a broker restart, every shot once.

The long run is ``python -m tests.chaos.harness`` (see its docstring).
"""

from __future__ import annotations

import pytest

from tests.chaos.harness import ChaosConfig, ChaosRun

pytestmark = [pytest.mark.rabbit, pytest.mark.e2e]


def test_jobs_survive_killed_services_and_a_broker_restart(tmp_path):
    # Given 5 jobs across the four backends, big enough that the kills land while they run
    config = ChaosConfig(jobs=5, seed=7, kill_every_s=3.0, min_kills=4, broker_restarts=1,
                         max_chaos_s=120, job_timeout_s=60, shots=(40, 120))
    # When services are SIGKILLed and restarted every few seconds and the broker restarts once
    outcome = ChaosRun(config, tmp_path / "home").run()
    print("\n".join(outcome.timeline) + "\n\n" + outcome.table())
    # Then every job is DONE and every shot is in its result once, equal to the ground truth,
    # archived with the checksum its ShotArchived announced, with nothing left in the spool
    verdict = outcome.verdict
    assert verdict.problems == []
    assert (verdict.jobs_done, verdict.losses, verdict.duplicates) == (5, 0, 0)
    assert verdict.shots_checked == verdict.shots_expected > 0
    assert outcome.failed_restarts == []
    assert sum(outcome.kills.values()) >= 3 and outcome.kills_while_running >= 3
    assert outcome.broker_restarts >= 1
