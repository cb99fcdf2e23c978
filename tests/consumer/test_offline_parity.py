"""The consumer's scores are offline `training score`'s, bit for bit, whatever the batch sizes."""

from __future__ import annotations

import numpy as np
import orjson
from fakes import FakeSink, FakeSource, fake_run_settings, message
from prometheus_client import CollectorRegistry

from consumer.checkpoint import AtLeastOnce
from consumer.config import KafkaSettings, ReplaySettings
from consumer.loop import ScoringLoop
from consumer.metrics import Metrics
from consumer.publish import Publisher
from consumer.replay import replay
from training.commands import run_score
from training.datasets.synth import V_COLUMNS, synthesize
from training.scoring.bundle import load_detector, save_bundle
from training.scoring.detector import Detector
from training.scoring.network import CodeDistance, Dense, Network, ReconstructionDistance
from training.scoring.scaling import Scaler

NAMES = (*V_COLUMNS, "Amount")


def random_detector(seed: int = 0) -> Detector:
    """A detector of the ULB width with random weights: every part of the score switched on."""
    rng = np.random.default_rng(seed)
    n, code = len(NAMES), 5
    layers = (
        Dense(rng.normal(0, 0.3, (n, 12)), rng.normal(0, 0.1, 12), "tanh"),
        Dense(rng.normal(0, 0.3, (12, code)), rng.normal(0, 0.1, code), "linear"),
        Dense(rng.normal(0, 0.3, (code, n)), rng.normal(0, 0.1, n), "linear"),
    )
    log = np.array([name == "Amount" for name in NAMES])
    scaler = Scaler("central", rng.normal(0, 0.1, n), rng.uniform(0.5, 2, n), clip=20.0, log=log)
    distance = CodeDistance(rng.normal(0, 0.1, code), np.eye(code) * 1.3, 2.0)
    spread = ReconstructionDistance(rng.normal(0, 0.1, n), 3.0)
    network = Network(layers, 1.7, 1, distance, spread)
    return Detector(NAMES, scaler, (network,), rng.uniform(0.5, 1.5, n), threshold=4.0)


def test_streamed_scores_equal_offline_scores_bit_for_bit(tmp_path):
    model_dir = tmp_path / "model"
    save_bundle(model_dir, random_detector(), {"threshold": {"strategy": "value:4.0"}})
    data = tmp_path / "transactions.csv"
    synthesize(300, fraud_rate=0.05, seed=3).to_csv(data, index=False)
    offline = run_score(model_dir, data).score

    # The messages exactly as `consumer replay` writes them.
    sink = FakeSink([])
    replay(ReplaySettings(KafkaSettings("fake:9092"), "in", data), sink, stream=None)
    sink.flush()
    values = [record.value for record in sink.delivered]
    messages = [message(value, offset) for offset, value in enumerate(values)]
    sizes = [1] * 30 + [2, 7, 40, 3]  # a lone row takes another BLAS routine: see the loop
    batches, start = [], 0
    for size in [*sizes, len(messages)]:
        batches.append(messages[start : start + size])
        start += size
    source = FakeSource([b for b in batches if b])
    out = FakeSink(source.events)
    settings = fake_run_settings(scores_topic="scores", commit_interval=0)
    detector = load_detector(model_dir)
    metrics = Metrics(CollectorRegistry())
    publisher = Publisher(out, metrics, "alerts", "dlq", "scores")
    checkpoint = AtLeastOnce(source, publisher, metrics, 0, settings.flush_timeout)
    loop = ScoringLoop(source, publisher, checkpoint, detector, "m", metrics, settings)
    loop.run(stopping=lambda: not source.batches)

    streamed = {orjson.loads(r.value)["transaction_id"]: r.value for r in out.on("scores")}
    assert len(streamed) == len(offline)
    for row, score in enumerate(offline):
        record = orjson.loads(streamed[f"transactions-{row}"])
        assert record["score"] == score  # not approximately: the very same float
        assert record["alert"] == bool(score > detector.threshold)
