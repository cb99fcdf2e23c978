"""Fixtures for the monitoring tests: promtool, the rules, what the scorer and feedback export."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml
from monitoring_helpers import PROMETHEUS_DIR, sample_names
from prometheus_client import CollectorRegistry

from consumer.feedback.alert_records import ROLES
from consumer.feedback.counts import EVICTED, AlertCount, FraudCount, LateAlertCount, RepeatCount
from consumer.feedback.metrics import FeedbackMetrics
from consumer.metrics import Metrics
from training.scoring.baseline import score_baseline

EVERY_COUNT = (
    AlertCount("champion", "v1", "autoencoder", "fraud"),
    FraudCount("champion", "true"),
    RepeatCount("legit", "fraud"),
    LateAlertCount("challenger", "legit"),
    EVICTED,
)


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
def rules() -> list[dict]:
    """Every rule of deploy/prometheus/alerts.yml, alerting and recording, in file order."""
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


@pytest.fixture(scope="session")
def alert_rules(rules) -> list[dict]:
    """The alerting rules of deploy/prometheus/alerts.yml."""
    return [rule for rule in rules if "alert" in rule]


@pytest.fixture(scope="session")
def recording_rules(rules) -> list[dict]:
    """The recording rules of deploy/prometheus/alerts.yml."""
    return [rule for rule in rules if "record" in rule]


@pytest.fixture(scope="session")
def exported_names() -> set[str]:
    """Names the consumer's Metrics export once a model with a score reference has scored."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    scores = np.random.default_rng(0).gamma(2.0, 1.0, size=2000)
    metrics.describe_model("v1", 5.0, 0.01, score_baseline(scores))
    metrics.describe_role("champion", "v1", 0.2)
    metrics.observe_scores(scores)
    return sample_names(registry)


@pytest.fixture(scope="session")
def feedback_names() -> set[str]:
    """Names the feedback process's metrics export once it has counted one of each count."""
    registry = CollectorRegistry()
    metrics = FeedbackMetrics(ROLES, registry)
    metrics.committed.publish(0, {count: 1 for count in EVERY_COUNT})
    return sample_names(registry)
