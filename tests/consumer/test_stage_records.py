"""The consumer with a supervised stage: records carry reasons and probability, as offline."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest
from fakes import FakeSink, FakeSource, fake_run_settings, message
from prometheus_client import CollectorRegistry

from consumer.checkpoint import AtLeastOnce
from consumer.loop import ScoringLoop
from consumer.metrics import Metrics
from consumer.publish import Publisher
from training.commands import run_score
from training.fitting.decision import share_budget
from training.fitting.stage import fit_stage
from training.scoring.bundle import load_scorer, save_bundle, stage_entry, write_stage
from training.scoring.detector import Detector
from training.scoring.network import Dense, Network
from training.scoring.scaling import Scaler

pytest.importorskip("lightgbm")
NAMES = ("a", "b", "c")


@pytest.fixture(scope="module")
def stage_bundle(tmp_path_factory):
    """A bundle with a tiny autoencoder and a supervised stage, and a CSV of rows to score."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(600, 3))
    y = np.zeros(600, dtype=int)
    y[:40] = 1
    x[:40, 1] += 2.5
    x[40:45] *= 6  # unusual normal rows: the autoencoder's side of the decision
    layers = (
        Dense(rng.normal(size=(3, 2)), np.zeros(2), "tanh"),
        Dense(rng.normal(size=(2, 3)), np.zeros(3), "linear"),
    )
    scaler = Scaler("standard", np.zeros(3), np.ones(3), log=np.zeros(3, bool))
    detector = Detector(NAMES, scaler, (Network(layers, 3.0),), np.ones(3), threshold=0.0)
    fit_rows, val_rows = np.arange(0, 600, 2), np.arange(1, 600, 2)
    stage = fit_stage(x[fit_rows], y[fit_rows], x[val_rows], y[val_rows], seed=0)
    decision = share_budget(
        stage.probability(detector, x[val_rows]), detector.score(x[val_rows]), 0.2
    )
    detector = Detector(NAMES, scaler, detector.networks, np.ones(3), decision.score_threshold)
    root = tmp_path_factory.mktemp("stage")
    fields = {"supervised": stage_entry(stage, decision, NAMES)}
    save_bundle(root / "model", detector, fields, lambda staging: write_stage(staging, stage))
    csv = root / "rows.csv"
    pd.DataFrame(x, columns=list(NAMES)).assign(Class=y).to_csv(csv, index=False)
    return root / "model", csv, x


def test_consumer_records_agree_exactly_with_offline_scoring(stage_bundle):
    model_dir, csv, x = stage_bundle
    offline = run_score(model_dir, csv)
    assert offline.probability is not None
    assert {tuple(r) for r in offline.reasons} >= {("supervised",), ("autoencoder",)}
    _, scorer = load_scorer(model_dir)
    values = [
        orjson.dumps(dict(zip(NAMES, row.tolist(), strict=True)) | {"transaction_id": str(i)})
        for i, row in enumerate(x)
    ]
    messages = [message(v, i) for i, v in enumerate(values)]
    source = FakeSource([messages[:250], messages[250:]])
    sink = FakeSink(source.events)
    settings = fake_run_settings(scores_topic="scores", batch_size=1000)
    metrics = Metrics(CollectorRegistry())
    publisher = Publisher(sink, metrics, settings.alert_topic, settings.dlq_topic, "scores")
    checkpoint = AtLeastOnce(
        source, publisher, metrics, settings.commit_interval, settings.flush_timeout
    )
    loop = ScoringLoop(source, publisher, checkpoint, scorer, "m", metrics, settings)
    loop.run(stopping=lambda: not source.batches)
    records = sorted(
        (orjson.loads(r.value) for r in sink.on("scores")), key=lambda d: int(d["transaction_id"])
    )
    assert [r["score"] for r in records] == offline.score.tolist()
    assert [r["probability"] for r in records] == offline.probability.tolist()
    assert [r["alert"] for r in records] == offline.alerts.tolist()
    assert [r["reasons"] for r in records] == offline.reasons
    alerts = [orjson.loads(r.value) for r in sink.on("alerts")]
    assert len(alerts) == int(offline.alerts.sum())
    assert all(a["reasons"] and a["top_features"] for a in alerts)
    assert {a["probability_threshold"] for a in alerts} == {scorer.decision.probability_threshold}
