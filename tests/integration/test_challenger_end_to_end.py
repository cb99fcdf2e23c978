"""A challenger beside the champion, end to end on a real broker: `consumer run` publishes both
roles' alerts exactly as offline scoring says, each to its own topic, and the feedback process
counts each role's precision and recall exactly as the labels and offline scores say."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace

import orjson
import pandas as pd
import pytest
from consumer_helpers import (
    ConsumerProcess,
    metric,
    read_topic,
    replay,
    wait_until_committed,
)
from feedback_helpers import FeedbackProcess, FeedbackTopics, producer, send, verdict_value
from kafka_helpers import REPO_ROOT

from consumer.feedback.counts import AlertCount, FraudCount

PARTITIONS = 2


def challenger_copy(bundle, root):
    """Copy a two-stage bundle as another model: its trees alert at half the probability."""
    copy = root / "challenger"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["model_version"] = "challenger-" + manifest["model_version"]
    decision = manifest["supervised"]["decision"]
    decision["probability_threshold"] = decision["probability_threshold"] / 2
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy, manifest


def offline_alerts(bundle, csv, out, ids):
    subprocess.run(
        [sys.executable, "-m", "training", "score", "--model-dir", str(bundle),
         "--data", str(csv), "--out", str(out)],
        cwd=REPO_ROOT, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    flags = pd.read_csv(out)["alert"]
    return {i for i, flag in zip(ids, flags, strict=True) if flag == 1}


@pytest.mark.slow
def test_champion_and_challenger_alerts_and_their_feedback_agree_with_offline_scoring(
    kafka_bootstrap, scorer_topics, topic_factory, model_bundle, stream, tmp_path
):
    bundle, manifest = challenger_copy(model_bundle, tmp_path)
    expected = offline_alerts(bundle, stream.csv, tmp_path / "challenger.csv", stream.ids)
    assert expected != stream.alerts and stream.alerts < expected  # more alerts, same scores
    topics = scorer_topics(PARTITIONS)
    shadow = topic_factory(partitions=2, prefix="challenger")
    consumer = ConsumerProcess(
        tmp_path / "consumer.log",
        **topics.settings(kafka_bootstrap, model_bundle, exactly_once="true", batch_size=200),
        challenger_model_dir=bundle,
        challenger_alert_topic=shadow,
    )
    try:
        consumer.wait_ready()
        replay(kafka_bootstrap, topics.source, stream.csv)
        wait_until_committed(
            kafka_bootstrap, topics.group, topics.source, PARTITIONS, 120, consumer
        )
        samples = consumer.metrics()
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
    finally:
        consumer.ensure_stopped()

    champion = [orjson.loads(r.value) for r in read_topic(kafka_bootstrap, topics.alerts, 1)]
    challenger = [orjson.loads(r.value) for r in read_topic(kafka_bootstrap, shadow, 2)]
    assert sorted(d["transaction_id"] for d in champion) == sorted(stream.alerts)
    assert sorted(d["transaction_id"] for d in challenger) == sorted(expected)
    assert all("role" not in d for d in champion)
    assert {(d["role"], d["model_version"]) for d in challenger} == {
        ("challenger", manifest["model_version"])
    }
    version = champion[0]["model_version"]
    roles = {"champion": (version, len(stream.alerts)),
             "challenger": (manifest["model_version"], len(expected))}  # fmt: skip
    for role, (model_version, alerts) in roles.items():
        labels = {"role": role, "model_version": model_version}
        assert metric(samples, "fraud_model_alerts_total", **labels) == alerts
        assert metric(samples, "fraud_model_role_info", **labels) == 1
        assert 0 < metric(samples, "fraud_model_validation_precision", **labels) <= 1
    assert metric(samples, "fraud_transactions_scored_total") == len(stream.ids)

    # Every transaction gets its label as a verdict, after its alerts: the feedback process
    # counts what the labels and the offline alerts say, per role.
    created = FeedbackTopics.create(kafka_bootstrap, 3)
    feedback = replace(created, alerts=topics.alerts, challenger=shadow)
    fraud = dict(zip(stream.ids, pd.read_csv(stream.csv)["Class"] == 1, strict=True))
    verdicts = [(tx.encode(), verdict_value(tx, bool(f))) for tx, f in fraud.items()]
    send(producer(kafka_bootstrap, murmur2=True), feedback.labels, verdicts)
    sent = time.time()
    settings = feedback.settings(kafka_bootstrap, grace=1)
    process = FeedbackProcess(tmp_path / "feedback.log", **settings)
    try:
        process.wait_ready()
        deadline = time.monotonic() + 120
        while process.watermark() < sent + 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        alerted = {"champion": (version, stream.alerts)}
        alerted["challenger"] = (manifest["model_version"], expected)
        want = expected_counts(fraud, alerted)
        deadline = time.monotonic() + 60
        while _core(process.totals()) != want and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _core(process.totals()) == want, process.logs()[-3000:]
        assert process.stop(signal.SIGTERM) == 0, process.logs()
    finally:
        process.ensure_stopped()
        created.delete(kafka_bootstrap)


def expected_counts(fraud, roles):
    """Return what each role's alerts against the labels make: alerts by verdict, frauds caught."""
    want = {}
    for role, (version, alerted) in roles.items():
        for verdict in ("fraud", "legit"):
            n = sum(1 for tx in alerted if fraud[tx] == (verdict == "fraud"))
            want[role, version, verdict] = n
        frauds = [tx for tx, f in fraud.items() if f]
        want[role, "caught"] = sum(1 for tx in frauds if tx in alerted)
        want[role, "missed"] = sum(1 for tx in frauds if tx not in alerted)
    return {key: n for key, n in want.items() if n}


def _core(totals):
    """Sum the feedback totals as `expected_counts` reads them (stages summed)."""
    out = {}
    for count, n in totals.items():
        if isinstance(count, AlertCount):
            key = (count.role, count.model_version, count.verdict)
        elif isinstance(count, FraudCount):
            key = (count.role, "caught" if count.caught == "true" else "missed")
        else:
            continue
        out[key] = out.get(key, 0) + n
    return out
