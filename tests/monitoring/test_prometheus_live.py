"""A real Prometheus scrapes a real consumer scoring a replayed stream on the real broker.

Prometheus sees what the test sent: `up` is 1, the scored and dead-letter counters equal the
messages sent, every rule (alerting and recording) loaded healthy, the metrics pass `promtool
check metrics`, and score drift stays low on an unshifted stream and crosses the rule's bound
on a shifted one.
Rate-based rules cannot fire within a short test: `promtool test rules` proves their logic.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess

import pandas as pd
import pytest
from consumer_helpers import ConsumerProcess, produce, replay, wait_until_committed
from monitoring_helpers import PROMETHEUS_DIR, PROPOSED, REPO_ROOT
from prometheus_helpers import LocalPrometheus, api, instant, prometheus_local, scalar
from prometheus_helpers import wait_for_value as wait_for

PARTITIONS = 2
BAD = {
    b"bad-1": b"{not json",
    b"bad-2": b"[1, 2]",
    b"bad-3": b'{"V1": 1.0}',
    b"bad-4": b"also not json",
}
REASONS = {"not_json": 2, "not_object": 1, "missing_feature": 1}
ALERTS_YML = PROMETHEUS_DIR / "alerts.yml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "fraudstream.json"


def shifted_copy(csv, out):
    """Write the stream with every V column tripled: the same rows, far from training data."""
    frame = pd.read_csv(csv)
    columns = [c for c in frame.columns if c.startswith("V")]
    frame[columns] = frame[columns] * 3
    frame.to_csv(out, index=False)
    return out


@pytest.mark.slow
def test_live_prometheus_scrapes_the_consumer(
    kafka_bootstrap,
    scorer_topics,
    model_bundle,
    stream,
    tmp_path,
    promtool,
    alert_rules,
    recording_rules,
    feedback_names,
):
    rules = {rule["alert"]: rule["expr"] for rule in alert_rules}
    manifest = json.loads((model_bundle / "manifest.json").read_text())
    assert manifest["score_reference"]["rows"] > 0  # fit wrote the drift reference
    topics = scorer_topics(PARTITIONS)
    consumer = ConsumerProcess(
        tmp_path / "consumer.log", **topics.settings(kafka_bootstrap, model_bundle, batch_size=200)
    )
    prometheus = None
    try:
        prometheus = LocalPrometheus(tmp_path / "prometheus", [f"127.0.0.1:{consumer.port}"])
        url = prometheus.url
        consumer.wait_ready()
        produce(kafka_bootstrap, topics.source, list(BAD.items())[:2])
        replay(kafka_bootstrap, topics.source, stream.csv)
        produce(kafka_bootstrap, topics.source, list(BAD.items())[2:])
        wait_until_committed(
            kafka_bootstrap, topics.group, topics.source, PARTITIONS, 120, consumer
        )

        # What Prometheus scraped equals what the test sent.
        wait_for(url, "sum(fraud_transactions_scored_total)", len(stream.ids))
        wait_for(url, "sum(fraud_invalid_messages_total)", len(BAD))
        assert scalar(url, 'up{job="fraudstream"}') == 1
        dead = instant(url, "sum by (reason) (fraud_invalid_messages_total) > 0")
        assert dead == {(("reason", r),): float(n) for r, n in REASONS.items()}
        wait_for(url, "sum(fraud_alerts_total)", len(stream.alerts))
        version = manifest["model_version"]
        assert scalar(url, f'fraud_model_info{{model_version="{version}"}}') == 1
        assert scalar(url, "fraud_expected_alert_ratio") == pytest.approx(
            manifest["metrics"]["validation"]["alert_rate"]
        )
        assert scalar(url, "fraud_alert_threshold") == pytest.approx(manifest["threshold"]["value"])

        # Every rule loaded and evaluates without error.
        loaded = [r for g in api(url, "rules")["groups"] for r in g["rules"]]
        records = [rule["record"] for rule in recording_rules]
        assert sorted(r["name"] for r in loaded) == sorted([*rules, *records])
        assert all(r["health"] == "ok" for r in loaded), loaded

        # The exposition passes promtool's lint and holds every metric the deploy files read.
        status, body = consumer.get("/metrics")
        assert status == 200
        check = subprocess.run(
            [promtool, "check", "metrics"], input=body, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        exported = set(re.findall(r"^# TYPE (\w+)", body, re.MULTILINE))
        read = set(re.findall(r"\bfraud_[a-z_]+", ALERTS_YML.read_text() + DASHBOARD.read_text()))
        read -= feedback_names | set(PROPOSED)  # the feedback process's, and not yet exported
        histograms = {f"{n}{s}" for n in exported for s in ("_bucket", "_sum", "_count")}
        assert read <= exported | histograms, read - exported - histograms

        # Drift: low on the unshifted stream, past the rule's bound once shifted rows arrive.
        drift_rule = rules["FraudScoreDrift"]
        unshifted = scalar(url, "fraud_score_drift")
        assert unshifted is not None
        assert instant(url, drift_rule) == {}
        shifted = shifted_copy(stream.csv, tmp_path / "shifted.csv")
        replay(kafka_bootstrap, topics.source, shifted)
        wait_for(url, "sum(fraud_transactions_scored_total)", 2 * len(stream.ids))
        assert instant(url, drift_rule) != {}, scalar(url, "fraud_score_drift")
        drifted = scalar(url, "fraud_score_drift")

        print(f"\nscore drift: {unshifted:.3f} unshifted, {drifted:.3f} after shifted rows")
        print(prometheus_local("summary", "--url", url))
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        consumer.ensure_stopped()
        if prometheus is not None:
            prometheus.stop()
