"""A lab's own routines join shotline's, per backend."""

import pytest

from services.analysis.registry import ANALYSES, analyses_with_extras
from services.analysis.settings import AnalysisSettings


def test_extra_routines_run_after_shotlines_own(monkeypatch):
    monkeypatch.setenv("SHOTLINE_ANALYSIS_EXTRA_ROUTINES", '{"fermions": ["check_loading.py"]}')
    extra = AnalysisSettings().analysis_extra_routines
    merged = analyses_with_extras(extra)
    assert merged["fermions"].single_shot == ANALYSES["fermions"].single_shot + ("check_loading.py",)
    assert merged["rydberg"] == ANALYSES["rydberg"]


def test_extra_routines_for_an_unknown_backend_are_refused():
    with pytest.raises(ValueError, match="unknown backends"):
        analyses_with_extras({"bosons": ["x.py"]})
