"""The analysis service: single-shot lyse routines per shot, and the multi-shot results consumer.

Both run in one process because they share the routine files, the lyse set-up and the settings;
each route has its own thread and its own routine worker process. Several analysis processes
may run: shots are competing consumers, the results queue has a single active consumer (the
others stand by), and the bookkeeping is a file they share.
"""

from __future__ import annotations

from pathlib import Path

from contracts.topology import ANALYSIS_SHOTS, RESULTS_PROGRESS
from services.analysis.bookkeeping import JobBook
from services.analysis.registry import analyses_with_extras, routine_files
from services.analysis.results import ResultsKeeper
from services.analysis.settings import AnalysisSettings
from services.analysis.singleshot import SERVICE, ShotAnalyser
from services.common.bus import Consumer, Route
from services.common.labscript_profile import ensure_profile
from services.common.logging import configure_logging
from services.common.metrics import serve_metrics
from services.common.runner import run_consumer
from services.common.settings import load_settings


def prepare_routines() -> Path:
    """Sync the shipped routines into the profile's analysislib (where the lyse GUI finds them)
    and return that folder: the service runs the same files a physicist would load."""
    return ensure_profile(analysis_sync=routine_files()).analysislib


def build(settings: AnalysisSettings) -> tuple[Consumer, ShotAnalyser, ResultsKeeper]:
    routines_dir = prepare_routines()
    analyses = analyses_with_extras(settings.analysis_extra_routines)
    missing = [r for a in analyses.values() for r in a.single_shot if not (routines_dir / r).is_file()]
    if missing:
        raise SystemExit(f"SHOTLINE_ANALYSIS_EXTRA_ROUTINES names routines not in {routines_dir}: {missing}")
    analyser = ShotAnalyser(settings, routines_dir, analyses=analyses)
    keeper = ResultsKeeper(settings, routines_dir, JobBook(settings.state_db), analyses=analyses)
    consumer = Consumer(
        settings.amqp_url, SERVICE,
        [Route(ANALYSIS_SHOTS, analyser), Route(RESULTS_PROGRESS, keeper)],
        prefetch=settings.analysis_prefetch,
    )
    return consumer, analyser, keeper


def run() -> None:
    settings = load_settings(AnalysisSettings)
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    serve_metrics(settings.metrics_port, settings.metrics_host)
    consumer, analyser, keeper = build(settings)
    analyser.warm_up()  # import lyse before the first shot arrives, not while it waits
    try:
        run_consumer(consumer)
    finally:
        analyser.close()
        keeper.close()
