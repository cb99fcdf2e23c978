"""Fixtures for the monitoring tests: promtool, the alerting rules, what the consumer exports."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml
from monitoring_helpers import PROMETHEUS_DIR, sample_names
from prometheus_client import CollectorRegistry

from consumer.metrics import Metrics
from training.scoring.baseline import score_baseline


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary; the tests fail (never skip) without it, as they do without Kafka."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found: install Debian's prometheus package (scripts/bootstrap does)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def alert_rules() -> list[dict]:
    """The alerting rules of deploy/prometheus/alerts.yml."""
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


@pytest.fixture(scope="session")
def exported_names() -> set[str]:
    """Names the consumer's Metrics export once a model with a score reference has scored."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    scores = np.random.default_rng(0).gamma(2.0, 1.0, size=2000)
    metrics.describe_model("v1", 5.0, 0.01, score_baseline(scores))
    metrics.observe_scores(scores)
    return sample_names(registry)
