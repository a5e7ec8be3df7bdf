"""How a measured outcome becomes a fluorescence image and back: the emulator's camera and the
analysis routines agree through this module.

One site per measured wire, in the order of the ``measure`` instructions, laid out in a row of
``CELL``×``CELL`` pixel cells; each site's ``SPOT``×``SPOT`` spot holds ``COUNTS_PER_ATOM`` counts
per atom (occupation for fermions and qubits, level index for qudits) on a Poisson background.
The background's standard deviation over a spot (~18 counts) is ~55 times smaller than half an
atom's signal, so readout reproduces the outcome exactly at the default settings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CELL = 16
SPOT = 8
COUNTS_PER_ATOM = 2000
BACKGROUND_PER_PIXEL = 5.0
#: The largest level one site can show without saturating uint16 pixels.
MAX_LEVEL = (np.iinfo(np.uint16).max - 100) * SPOT * SPOT // COUNTS_PER_ATOM


def render_fluorescence(levels: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """A uint16 image (CELL × CELL·n) showing ``levels[i]`` atoms at site ``i``."""
    if not levels:
        raise ValueError("an image needs at least one measured site")
    if any(level < 0 or level > MAX_LEVEL for level in levels):
        raise ValueError(f"levels must lie in 0..{MAX_LEVEL}, got {list(levels)}")
    image = rng.poisson(BACKGROUND_PER_PIXEL, size=(CELL, CELL * len(levels))).astype(np.int64)
    offset = (CELL - SPOT) // 2
    for site, level in enumerate(levels):
        total = int(level) * COUNTS_PER_ATOM
        per_pixel, remainder = divmod(total, SPOT * SPOT)
        spot = np.full(SPOT * SPOT, per_pixel, dtype=np.int64)
        spot[:remainder] += 1  # spread the remainder so the spot sums to the exact signal
        x0 = site * CELL + offset
        image[offset:offset + SPOT, x0:x0 + SPOT] += spot.reshape(SPOT, SPOT)
    return image.astype(np.uint16)


def site_counts(image: np.ndarray) -> np.ndarray:
    """Background-subtracted counts in each site's spot."""
    if image.ndim != 2 or image.shape[0] != CELL or image.shape[1] % CELL:
        raise ValueError(f"not a shotline fluorescence image: shape {image.shape}")
    offset = (CELL - SPOT) // 2
    n_sites = image.shape[1] // CELL
    counts = np.empty(n_sites)
    for site in range(n_sites):
        x0 = site * CELL + offset
        spot = image[offset:offset + SPOT, x0:x0 + SPOT].astype(np.float64)
        counts[site] = spot.sum() - BACKGROUND_PER_PIXEL * SPOT * SPOT
    return counts


def read_fluorescence(image: np.ndarray) -> list[int]:
    """The number of atoms at every site of ``image`` (inverse of ``render_fluorescence``)."""
    return [max(0, int(round(c / COUNTS_PER_ATOM))) for c in site_counts(image)]
