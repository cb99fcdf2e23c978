"""The consumer alerts on every extreme row, with a finite score and the feature named."""

from __future__ import annotations

import math
import signal
import sys
from pathlib import Path

import orjson
import pytest
from consumer_helpers import ConsumerProcess, metric, produce, read_topic, wait_until_committed

sys.path.insert(0, str(Path(__file__).parents[1]))
from extreme_rows import EXTREMES, extreme_rows  # noqa: E402


@pytest.mark.slow
def test_the_consumer_alerts_on_every_extreme_row_naming_its_feature(
    kafka_bootstrap, scorer_topics, model_bundle, stream, tmp_path
):
    topics = scorer_topics(1)
    rows = extreme_rows(stream.csv).drop(columns=["Class", "Time"], errors="ignore")
    items = [(r["transaction_id"].encode(), orjson.dumps(r.to_dict())) for _, r in rows.iterrows()]
    consumer = ConsumerProcess(
        tmp_path / "consumer.log", **topics.settings(kafka_bootstrap, model_bundle)
    )
    try:
        consumer.wait_ready()
        produce(kafka_bootstrap, topics.source, items)
        wait_until_committed(kafka_bootstrap, topics.group, topics.source, 1, 120, consumer)
        samples = consumer.metrics()
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        consumer.ensure_stopped()
    alerts = {
        doc["transaction_id"]: doc
        for doc in (orjson.loads(r.value) for r in read_topic(kafka_bootstrap, topics.alerts, 1))
    }
    assert sorted(alerts) == sorted(k.decode() for k, _ in items)
    for i, (feature, _) in enumerate(EXTREMES):
        alert = alerts[f"extreme-{i}"]
        assert "out_of_range" in alert["reasons"] and feature in alert["out_of_range"]
        assert isinstance(alert["score"], float) and math.isfinite(alert["score"])
    counted = sum(metric(samples, "fraud_out_of_range_total", feature=f) for f in ("V3", "Amount"))
    assert counted == len(EXTREMES)
