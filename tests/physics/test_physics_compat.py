"""Exact distributions of services.emulator.physics against qiskit-cold-atom 0.2.1 (compat venv)."""

from __future__ import annotations

import pytest

import physics_circuits as pc
from services.emulator.physics import outcome_distribution

CIRCUITS_PER_FAMILY = 30
TOLERANCE = 1e-6

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def cases() -> dict[str, tuple[list[dict], dict]] | str:
    """All four families run concurrently, one qiskit subprocess each (or why they cannot)."""
    python = pc.compat_python()
    if not python.exists():
        return (
            f"compat interpreter {python} is missing: these tests need qiskit-cold-atom "
            "(tests/compat/requirements.txt) in .venv-compat or SHOTLINE_COMPAT_PYTHON"
        )
    circuits = {name: gen(CIRCUITS_PER_FAMILY) for name, gen in pc.GENERATORS.items()}
    procs = {name: pc.start_reference(name, circs) for name, circs in circuits.items()}
    return {name: (circuits[name], pc.finish_reference(proc)) for name, proc in procs.items()}


@pytest.mark.parametrize("backend", sorted(pc.GENERATORS))
def test_matches_qiskit_cold_atom(cases: dict | str, backend: str) -> None:
    if isinstance(cases, str):
        pytest.fail(cases, pytrace=False)  # a missing reference is a failure, never a skip
    circuits, ref = cases[backend]
    assert len(ref["distributions"]) == len(circuits) >= 30
    failures = []
    for k, (circuit, expected) in enumerate(zip(circuits, ref["distributions"])):
        ours = outcome_distribution(backend, circuit["instructions"], circuit["num_wires"])
        distance = pc.total_variation(ours, expected)
        if not distance < TOLERANCE:
            failures.append((k, distance, circuit["instructions"]))
    assert not failures, f"{len(failures)} circuits differ from qiskit-cold-atom: {failures[:2]}"


def test_reference_interpreter_missing_is_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("SHOTLINE_COMPAT_PYTHON", str(tmp_path / "no-such-python"))
    with pytest.raises(FileNotFoundError, match="SHOTLINE_COMPAT_PYTHON"):
        pc.start_reference("rydberg", [])
