"""The metrics port: Prometheus exposition, liveness and readiness."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from consumer.health import Health, serve
from consumer.metrics import Metrics


@pytest.fixture
def http():
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    health = Health()
    server = serve("127.0.0.1", 0, health, registry)
    yield f"http://127.0.0.1:{server.server_address[1]}", metrics, health
    server.shutdown()
    server.server_close()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_metrics_are_exposed_with_the_issue_names(http):
    base, metrics, _ = http
    metrics.transactions_scored.inc(3)
    metrics.model_info.labels("m-7").set(1)
    metrics.consumer_lag_messages.labels("in", "2").set(5)
    status, body = get(base + "/metrics")
    assert status == 200
    for line in (
        "fraud_transactions_scored_total 3.0",
        "fraud_alerts_total 0.0",
        'fraud_invalid_messages_total{reason="not_json"} 0.0',
        'fraud_model_info{model_version="m-7"} 1.0',
        'fraud_consumer_lag_messages{partition="2",topic="in"} 5.0',
        "fraud_scoring_batch_seconds_count 0.0",
        "fraud_end_to_end_latency_seconds_count 0.0",
        "fraud_anomaly_score_count 0.0",
        "# TYPE fraud_anomaly_score histogram",
    ):
        assert line in body


def test_healthz_and_readyz(http):
    base, _, health = http
    assert get(base + "/healthz") == (200, "ok\n")
    assert get(base + "/readyz") == (503, "model not loaded\n")
    health.model_version = "m-7"
    health.assigned = frozenset({("in", 0)})
    assert get(base + "/readyz") == (200, "model m-7, 1 partitions\n")
    assert get(base + "/nope")[0] == 404
