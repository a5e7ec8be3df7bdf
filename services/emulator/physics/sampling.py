"""Outcome tables (exact probability per memory string) and seeded shot sampling from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Probabilities below this are float noise from the evolution, not outcomes.
_NOISE = 1e-14


@dataclass(frozen=True)
class OutcomeTable:
    """Distinct memory strings and their exact probabilities (same order)."""

    labels: tuple[str, ...]
    probs: np.ndarray

    def as_dict(self) -> dict[str, float]:
        return {label: float(p) for label, p in zip(self.labels, self.probs) if p > _NOISE}


EMPTY = OutcomeTable((), np.zeros(0))


def table_from_levels(
    probs: np.ndarray, levels: np.ndarray, measured: Sequence[int]
) -> OutcomeTable:
    """Marginalise basis-state probabilities onto the measured wires.

    `levels[w, i]` is the level of wire `w` in basis state `i`; `measured` lists wires in the
    order of the measure instructions (repeats allowed) and fixes the order inside each string.
    """
    if not measured:
        return EMPTY
    distinct = sorted(set(measured))
    # Group basis states by their measured levels; np.unique keeps this vectorised for 4096 states.
    rows, inverse = np.unique(levels[distinct].T, axis=0, return_inverse=True)
    marginal = np.bincount(inverse.ravel(), weights=probs, minlength=len(rows))
    column = {wire: k for k, wire in enumerate(distinct)}
    picks = [column[w] for w in measured]
    labels = tuple(" ".join(str(int(row[k])) for k in picks) for row in rows)
    return OutcomeTable(labels, marginal)


def make_rng(seed: int | None) -> np.random.Generator:
    """Seeded generator for reproducible jobs; `None` draws fresh OS entropy."""
    return np.random.default_rng(seed)


def sample(table: OutcomeTable, shots: int, rng: np.random.Generator) -> list[str]:
    """Draw `shots` memory strings; no measurement means no memory at all."""
    if not table.labels or shots <= 0:
        return []
    weights = np.clip(table.probs, 0.0, None)
    # Inverse-CDF sampling tolerates the ~1e-15 normalisation drift that rng.choice rejects.
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    picks = np.searchsorted(cdf, rng.random(shots), side="right")
    np.minimum(picks, len(cdf) - 1, out=picks)
    labels = table.labels
    return [labels[i] for i in picks]
