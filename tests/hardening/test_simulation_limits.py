"""One user cannot stall the apparatus: on a running stack an over-cost experiment is a 422
naming max_simulation_cost, and a job that passes the cost model but simulates past the time
limit ends ERROR with that reason while another user's job behind it completes."""

from __future__ import annotations

import json

import pytest

from tests.support.stack import Stack

pytestmark = [pytest.mark.rabbit, pytest.mark.e2e]
LIMIT_S = 0.2


def qudits(level: int, params: list[float]) -> dict:
    return {"experiment_0": {
        "instructions": [["load", [0], [level]], ["load", [1], [level]],
                         ["multiqudit_full", [0, 1], params],
                         ["measure", [0], []], ["measure", [1], []]],
        "num_wires": 2, "shots": 3, "wire_order": "sequential"}}


#: 46 x 46 levels at strong couplings: under the cost cap (9.7e9 < 1e10), ~1 s of dense eigh.
SLOW = qudits(45, [3.0, 2.0, 1.5, 3.0, 2.0])
OVER_COST = qudits(63, [3.0, 2.0, 1.5, 3.0, 2.0])  # 6.9e10
NORMAL = {"experiment_0": {"instructions": [["load", [0], [3]], ["rlx", [0], [1.0]],
                                            ["measure", [0], []]],
                           "num_wires": 1, "shots": 3, "wire_order": "sequential"}}


def test_over_cost_is_refused_and_over_time_fails_only_its_own_job(tmp_path, amqp_url):
    with Stack(tmp_path / "home", amqp_url,
               service_env={"emulator": {"SHOTLINE_MAX_SHOT_SECONDS": str(LIMIT_S)}}) as stack:
        stack.start()
        mallory, bob = stack.add_user("mallory"), stack.add_user("bob")
        stack.token = mallory
        refused = stack.session.post(
            f"{stack.base_url}/api/v2/multiqudit/post_job",
            json={"job": json.dumps(OVER_COST), "token": mallory}, timeout=30)
        assert refused.status_code == 422, refused.text
        [violation] = refused.json()["violations"]
        assert violation["rule"] == "simulation_cost"
        assert "max_simulation_cost" in violation["message"]

        slow = stack.post_job("multiqudit", SLOW)
        stack.token = bob
        normal = stack.post_job("singlequdit", NORMAL)
        assert stack.wait_final("singlequdit", normal, timeout=120)["status"] == "DONE"
        stack.token = mallory
        failed = stack.wait_final("multiqudit", slow, timeout=120)
        assert failed["status"] == "ERROR", failed
        assert f"time limit of {LIMIT_S:g} s" in failed["error_message"], failed
