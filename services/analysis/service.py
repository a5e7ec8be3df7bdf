"""The analysis service: single-shot lyse routines per shot, and the multi-shot results consumer.

Both run in one process because they share the routine files, the lyse set-up and the settings;
each route has its own thread and its own routine worker process. Several analysis processes
may run: shots are competing consumers, the results queue has a single active consumer (the
others stand by), and the bookkeeping is a file they share.
"""

from __future__ import annotations

from pathlib import Path

from services.analysis.bookkeeping import ResultsBook
from services.analysis.registry import analyses_with_extras, routine_files
from services.analysis.results import ResultsKeeper
from services.analysis.settings import AnalysisSettings
from services.analysis.singleshot import ShotAnalyser
from services.common.labscript_profile import ensure_profile
from services.common.service import Service


def prepare_routines() -> Path:
    """Sync the shipped routines into the profile's analysislib (where the lyse GUI finds them)
    and return that folder: the service runs the same files a physicist would load."""
    return ensure_profile(analysis_sync=routine_files()).analysislib


class Analysis(Service[AnalysisSettings], name="analysis", settings=AnalysisSettings):
    """ShotFinished -> ShotAnalysed; the job's events -> progress and JobDone."""

    handler_classes = (ShotAnalyser, ResultsKeeper)

    def __init__(self, settings: AnalysisSettings) -> None:
        super().__init__(settings)
        routines_dir = prepare_routines()
        analyses = analyses_with_extras(settings.analysis_extra_routines)
        missing = [r for a in analyses.values() for r in a.single_shot
                   if not (routines_dir / r).is_file()]
        if missing:
            raise SystemExit(f"SHOTLINE_ANALYSIS_EXTRA_ROUTINES names routines not in "
                             f"{routines_dir}: {missing}")
        self.analyser = ShotAnalyser(settings, routines_dir, analyses=analyses)
        self.keeper = ResultsKeeper(settings, routines_dir, ResultsBook(settings.state_db),
                                    analyses=analyses)

    def handler_object(self, klass: type) -> object:
        return self.analyser if klass is ShotAnalyser else self.keeper

    def consumer_options(self) -> dict[str, object]:
        return {"prefetch": self.settings.analysis_prefetch}

    def start(self) -> None:
        self.analyser.warm_up()  # import lyse before the first shot arrives, not while it waits

    def close(self) -> None:
        self.analyser.close()
        self.keeper.close()


SERVICE = Analysis
