"""The camera encoding round-trips every outcome exactly."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from services.common.imaging import MAX_LEVEL, read_fluorescence, render_fluorescence


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 500), min_size=1, max_size=8), st.integers(0, 2**32))
def test_render_then_read_is_exact(levels, seed):
    image = render_fluorescence(levels, np.random.default_rng(seed))
    assert image.dtype == np.uint16
    assert read_fluorescence(image) == levels


def test_rejects_levels_it_cannot_show():
    with pytest.raises(ValueError, match="levels must lie"):
        render_fluorescence([MAX_LEVEL + 1], np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least one"):
        render_fluorescence([], np.random.default_rng(0))


def test_foreign_image_is_refused():
    with pytest.raises(ValueError, match="not a shotline fluorescence image"):
        read_fluorescence(np.zeros((500, 500), dtype=np.uint16))
