"""The Grafana dashboard and the Prometheus example only query metrics that exist."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from services.common import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "shotline.json"
#: What the dashboard reads from the RabbitMQ Prometheus plugin (checked against a live broker).
RABBITMQ_METRICS = {
    "rabbitmq_queue_messages", "rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked",
}
METRIC = re.compile(r"\b((?:shotline|rabbitmq)_[a-z0-9_]+)\b")
SAMPLE_SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",),
                   "histogram": ("_bucket", "_sum", "_count", "_created")}


def shotline_sample_names() -> set[str]:
    """Every sample name services/common/metrics.py can expose."""
    names = {metrics.JOBS_BY_STATUS_NAME}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names |= {family.name + suffix for suffix in SAMPLE_SUFFIXES[family.type]}
    return names


def queries(dashboard: dict) -> list[str]:
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    found += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return found


def test_dashboard_is_valid_grafana_json():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"type", "title", "gridPos"} <= panel.keys()
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert all(t["expr"] and t["refId"] for t in panel["targets"])
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for wanted in ("throughput", "by status", "queue depth", "dead-letter", "consumed",
                   "p50", "p99", "busy", "archive"):
        assert wanted in titles, wanted


def test_every_queried_metric_exists():
    exposed = shotline_sample_names()
    for expr in queries(json.loads(DASHBOARD.read_text())):
        names = METRIC.findall(expr)
        assert names, f"query reads no shotline or RabbitMQ metric: {expr}"
        unknown = [n for n in names if n not in exposed and n not in RABBITMQ_METRICS]
        assert not unknown, f"{unknown} in {expr!r}: not in services/common/metrics.py"


@pytest.mark.rabbit
def test_rabbitmq_metrics_exist_on_the_brokers_prometheus_plugin(management):
    # The test broker runs the plugin that deploy/rabbitmq/enabled_plugins enables.
    with urllib.request.urlopen("http://127.0.0.1:15692/metrics/per-object", timeout=10) as reply:
        text = reply.read().decode()
    # Families are declared even while no queue exists (samples follow the stats interval).
    exposed = set(re.findall(r"^# TYPE (rabbitmq_[a-z0-9_]+) ", text, re.MULTILINE))
    assert RABBITMQ_METRICS <= exposed


def test_prometheus_example_scrapes_each_service_on_its_default_port():
    from services.analysis.settings import AnalysisSettings
    from services.archiver.settings import ArchiverSettings
    from services.emulator.settings import EmulatorSettings
    from services.ingest.settings import IngestSettings
    from services.shotwatch.settings import ShotwatchSettings
    from services.spooler.settings import SpoolerSettings

    defaults = {name: cls.model_fields["metrics_port"].default for name, cls in (
        ("ingest", IngestSettings), ("spooler", SpoolerSettings), ("emulator", EmulatorSettings),
        ("shotwatch", ShotwatchSettings), ("analysis", AnalysisSettings),
        ("archiver", ArchiverSettings))}
    assert len(set(defaults.values())) == len(defaults)  # one host runs them all
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {sc["labels"]["service"]: sc["targets"] for sc in jobs["shotline"]["static_configs"]}
    assert targets == {name: [f"{name}:{port}"] for name, port in defaults.items()}
    assert jobs["rabbitmq"]["metrics_path"] == "/metrics/per-object"
