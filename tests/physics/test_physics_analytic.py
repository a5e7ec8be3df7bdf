"""Analytic and behavioural checks of services.emulator.physics (no reference interpreter)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from services.emulator.physics import (
    BACKENDS,
    Outcome,
    SimulationError,
    outcome_distribution,
    simulate,
)

PI = math.pi
DATA = Path(__file__).resolve().parents[1] / "data"


def measure(*wires: int) -> list[list]:
    return [["measure", [w], []] for w in wires]


def approx_dist(expected: dict[str, float]):
    return pytest.approx(expected, abs=1e-9)


def test_backends() -> None:
    assert BACKENDS == frozenset({"fermions", "singlequdit", "multiqudit", "rydberg"})


# --- pi pulses ---------------------------------------------------------------------------------


def test_singlequdit_pi_pulse_reads_n() -> None:
    ins = [["load", [0], [50]], ["rlx", [0], [PI]], *measure(0)]
    assert simulate("singlequdit", ins, shots=200, seed=3).memory == ["50"] * 200
    assert outcome_distribution("singlequdit", ins) == approx_dist({"50": 1.0})


def test_singlequdit_half_pulse_is_binomial() -> None:
    ins = [["load", [0], [4]], ["rlx", [0], [PI / 2]], *measure(0)]
    binomial = {str(k): math.comb(4, k) / 16 for k in range(5)}
    assert outcome_distribution("singlequdit", ins) == approx_dist(binomial)


def test_multiqudit_pi_pulse_flips_only_its_wire() -> None:
    ins = [["load", [0], [3]], ["load", [1], [2]], ["rlx", [1], [PI]], *measure(0, 1)]
    assert outcome_distribution("multiqudit", ins) == approx_dist({"0 2": 1.0})


def test_rydberg_pi_pulse() -> None:
    ins = [["rlx", [2], [PI]], *measure(0, 2, 4)]
    assert outcome_distribution("rydberg", ins) == approx_dist({"0 1 0": 1.0})


# --- fermions ------------------------------------------------------------------------------------


def test_full_hop_moves_both_spins() -> None:
    ins = [["load", [0], []], ["load", [1], []], ["fhop", [0, 1, 2, 3], [PI / 2]],
           *measure(0, 1, 2, 3)]
    assert outcome_distribution("fermions", ins) == approx_dist({"0 0 1 1": 1.0})


def test_hop_sweep_of_the_qlued_fixture_is_two_independent_rabi_oscillations() -> None:
    job = json.loads((DATA / "qlued_v2_fermions_showcase.job_hop_11_experiments.json").read_text())
    for exp in job.values():
        j = next(p[0] for n, _, p in exp["instructions"] if n == "fhop")
        stay, move = math.cos(j) ** 2, math.sin(j) ** 2
        expected = {"1 1 0 0": stay * stay, "1 0 0 1": stay * move,
                    "0 1 1 0": move * stay, "0 0 1 1": move * move}
        got = outcome_distribution("fermions", exp["instructions"], exp["num_wires"])
        assert got == pytest.approx({k: v for k, v in expected.items() if v > 1e-14}, abs=1e-9)


def test_load_then_measure_matches_the_qlued_result_fixture() -> None:
    path = DATA / "qlued_v2_fermions_showcase.get_job_result.response.json"
    result = json.loads(path.read_text())
    exp = result["experiments"][0]["experiment_0"]
    out = simulate("fermions", exp["instructions"], exp["shots"], None, exp["num_wires"])
    assert out.memory == result["results"][0]["data"]["memory"]


def test_interaction_blocks_pair_tunnelling_phase() -> None:
    # Two fermions on one tweezer: a strong U detunes the doublon from the split states,
    # suppressing transfer compared with U = 0 (pure hopping in a 4-state space).
    base = [["load", [0], []], ["load", [1], []]]
    hop = [["fhop", [0, 1, 2, 3], [PI / 4]], *measure(0, 1)]
    free = outcome_distribution("fermions", base + hop)
    assert free == approx_dist({"1 1": 0.25, "1 0": 0.25, "0 1": 0.25, "0 0": 0.25})
    steps = 50
    trotter = [g for _ in range(steps) for g in (["fhop", [0, 1, 2, 3], [PI / 4 / steps]],
                                                 ["fint", list(range(8)), [40.0 / steps]])]
    blocked = outcome_distribution("fermions", base + trotter + measure(0, 1))
    assert blocked["1 1"] > 0.95


def test_fphase_only_matters_between_hops() -> None:
    def run(mu: float) -> dict[str, float]:
        ins = [["load", [0], []], ["fhop", [0, 1, 2, 3], [PI / 4]], ["fphase", [0, 1], [mu]],
               ["fhop", [0, 1, 2, 3], [PI / 4]], *measure(0)]
        return outcome_distribution("fermions", ins)

    assert run(0.0) == approx_dist({"0": 1.0})  # two half hops = one full hop
    assert run(PI) == approx_dist({"1": 1.0})  # a pi phase undoes it
    assert run(PI / 2) == approx_dist({"0": 0.5, "1": 0.5})


# --- rydberg blockade ----------------------------------------------------------------------------


def test_blockade_forbids_double_excitation() -> None:
    free = [["rydberg_full", [0, 1], [PI, 0.0, 0.0]], *measure(0, 1)]
    assert outcome_distribution("rydberg", free) == approx_dist({"1 1": 1.0})
    # Blockaded pair: collective Rabi frequency sqrt(2) * omega, so omega = pi / sqrt(2) gives
    # a complete transfer into (|01> + |10>) / sqrt(2) and no "1 1" at all.
    blocked = outcome_distribution(
        "rydberg", [["rydberg_full", [0, 1], [PI / math.sqrt(2), 0.0, 1e5]], *measure(0, 1)]
    )
    assert blocked.get("1 1", 0.0) < 1e-4
    assert blocked.get("0 1", 0.0) == pytest.approx(0.5, abs=1e-3)
    assert blocked.get("1 0", 0.0) == pytest.approx(0.5, abs=1e-3)


def test_blockade_phase_interferes_and_both_names_agree() -> None:
    def run(name: str, phi: float) -> dict[str, float]:
        ins = [["rlx", [0], [PI / 2]], ["rlx", [1], [PI]], [name, list(range(5)), [phi]],
               ["rlx", [0], [PI / 2]], *measure(0)]
        return outcome_distribution("rydberg", ins)

    assert run("rydberg_block", 0.0) == approx_dist({"1": 1.0})
    # Wire 1 is excited, so wire 0's Rydberg component picks up phi / 1^6 = pi: the pulses cancel.
    assert run("rydberg_block", PI) == approx_dist({"0": 1.0})
    assert run("rydberg_blockade", PI) == run("rydberg_block", PI)


# --- rlz2 ----------------------------------------------------------------------------------------


def test_rlz2_turns_a_pi_pulse_into_identity() -> None:
    # Spin 1: exp(-i pi Lz^2) = -1 on m = +-1, +1 on m = 0, which maps R_x(pi/2)|1> onto
    # -R_x(-pi/2)|1>, so a second pi/2 pulse returns to level 0 instead of reaching level 2.
    plain = [["load", [0], [2]], ["rlx", [0], [PI / 2]], ["rlx", [0], [PI / 2]], *measure(0)]
    twisted = [["load", [0], [2]], ["rlx", [0], [PI / 2]], ["rlz2", [0], [PI]],
               ["rlx", [0], [PI / 2]], *measure(0)]
    assert outcome_distribution("singlequdit", plain) == approx_dist({"2": 1.0})
    assert outcome_distribution("singlequdit", twisted) == approx_dist({"0": 1.0})
    in_multi = [["load", [1], [2]], ["rlx", [1], [PI / 2]], ["rlz2", [1], [PI]],
                ["rlx", [1], [PI / 2]], *measure(1)]
    assert outcome_distribution("multiqudit", in_multi, num_wires=2) == approx_dist({"0": 1.0})


def test_sq_full_time_is_one() -> None:
    # sqooler: psi -> exp(-i (omega Lx + delta Lz + chi Lz^2)) psi, i.e. unit evolution time.
    pulse = [["load", [0], [10]], ["sq_full", [0], [PI, 0.0, 0.0]], *measure(0)]
    assert outcome_distribution("singlequdit", pulse) == approx_dist({"10": 1.0})


def test_rlxly_swaps_an_excitation_at_j_pi() -> None:
    # qiskit-cold-atom's generator J (LxLx + LyLy) couples |10> and |01> with J / 2, so the
    # excitation swaps completely at J = pi (sqooler's J (L+L- + h.c.) would do it at pi / 2).
    ins = [["rlx", [0], [PI]], ["rlxly", [0, 1], [PI]], *measure(0, 1)]
    assert outcome_distribution("multiqudit", ins, num_wires=2) == approx_dist({"0 1": 1.0})


# --- memory format, seeds, empty memory ----------------------------------------------------------


def test_memory_follows_measure_order_and_repeats() -> None:
    ins = [["load", [0], [3]], ["load", [1], [1]], ["rlx", [0], [PI]], *measure(1, 0, 0)]
    assert simulate("multiqudit", ins, 3, seed=0).memory == ["0 3 3"] * 3


def test_no_measure_gives_empty_memory() -> None:
    ins = [["load", [0], [5]], ["rlx", [0], [1.0]]]
    assert simulate("singlequdit", ins, shots=100, seed=1) == Outcome(memory=[])
    assert outcome_distribution("singlequdit", ins) == {}
    assert simulate("fermions", [["load", [0], []]], shots=10, seed=1).memory == []


@pytest.mark.parametrize("backend,ins", [
    ("singlequdit", [["load", [0], [20]], ["rlx", [0], [PI / 2]], *measure(0)]),
    ("fermions", [["load", [0], []], ["load", [3], []], ["fhop", list(range(8)), [0.7]],
                  *measure(*range(8))]),
    ("rydberg", [["rydberg_full", list(range(5)), [2.0, 0.3, 4.0]], *measure(*range(5))]),
])
def test_seeded_runs_repeat_and_unseeded_runs_differ(backend: str, ins: list) -> None:
    first = simulate(backend, ins, shots=300, seed=1234).memory
    assert len(first) == 300
    assert simulate(backend, ins, shots=300, seed=1234).memory == first
    assert simulate(backend, ins, shots=300, seed=1235).memory != first
    fresh = simulate(backend, ins, shots=300, seed=None).memory
    assert simulate(backend, ins, shots=300, seed=None).memory != fresh


def test_sampled_frequencies_follow_the_distribution() -> None:
    ins = [["load", [0], [6]], ["sq_full", [0], [1.1, 0.4, 0.3]], *measure(0)]
    exact = outcome_distribution("singlequdit", ins)
    memory = simulate("singlequdit", ins, shots=20000, seed=5).memory
    for label, p in exact.items():
        assert memory.count(label) / 20000 == pytest.approx(p, abs=0.015)
    assert set(memory) <= set(exact)


# --- what cannot be simulated --------------------------------------------------------------------


@pytest.mark.parametrize("backend,ins,num_wires,match", [
    ("multiqudit", [["load", [0], [4096]]], 1, "4097"),
    ("multiqudit", [["load", [0], [256]]], 5, "unloaded"),
    ("singlequdit", [["load", [0], [501]]], None, "500"),
    ("multiqudit", [["rlx", [0], [1.0]], ["load", [0], [3]]], 1, "load must come first"),
    ("multiqudit", [["load", [0], [3]], ["load", [0], [3]]], 1, "twice"),
    ("singlequdit", [["rlxly", [0], [1.0]]], None, "rlxly"),
    ("fermions", [["load", [0], []], ["load", [0], []]], None, "Pauli"),
    ("fermions", [["fhop", [0, 1, 2, 3], [1.0]], ["load", [0], []]], None, "load all fermions"),
    ("fermions", [["load", [0], []], ["fhop", [0, 2, 4, 6], [1.0]]], None, "both spin wires"),
    ("fermions", [["load", [0], []], *measure(0), ["fhop", [0, 1, 2, 3], [1.0]]], None, "after"),
    ("rydberg", [["load", [0], [1]]], None, "load"),
    ("rydberg", [["rlx", [7], [1.0]]], 5, "outside"),
])
def test_unsimulable_circuits_raise(backend, ins, num_wires, match) -> None:
    with pytest.raises(SimulationError, match=match):
        outcome_distribution(backend, ins, num_wires)


def test_diagonal_gates_after_measure_are_fine() -> None:
    ins = [["load", [0], []], *measure(0), ["fphase", [0, 1], [1.0]],
           ["fint", list(range(8)), [2.0]]]
    assert outcome_distribution("fermions", ins) == approx_dist({"1": 1.0})


def test_unknown_backend() -> None:
    with pytest.raises(SimulationError, match="no simulator"):
        simulate("bosons", [], 1, 0)


def test_largest_multiqudit_register_is_fast() -> None:
    # 4 x 4 x 4 x 4 x 16 = 4096 states; a global full gate must still be exact and quick.
    loads = [["load", [w], [3]] for w in range(4)] + [["load", [4], [15]]]
    ins = loads + [["rlx", [4], [0.4]],
                   ["multiqudit_full", list(range(5)), [0.3, 0.2, 0.1, 0.5, 0.2]],
                   ["rlzlz", [3, 4], [0.7]], ["rlxly", list(range(5)), [0.9]], *measure(4, 0)]
    dist = outcome_distribution("multiqudit", ins, num_wires=5)
    assert sum(dist.values()) == pytest.approx(1.0, abs=1e-9)
