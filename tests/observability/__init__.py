"""Metrics and dashboards: what operators see."""
