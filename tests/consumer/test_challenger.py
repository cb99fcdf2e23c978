"""A challenger in the shadow, against fakes: same batch, its own topic, its own role."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fakes import (
    FakeDetector,
    FakeGroupSource,
    FakeSink,
    FakeSource,
    FakeTransactions,
    fake_run_settings,
    message,
)
from prometheus_client import CollectorRegistry

from consumer.challenger import Challenger, build_challenger
from consumer.checkpoint import AtLeastOnce
from consumer.errors import ConfigError
from consumer.loop import ScoringLoop
from consumer.metrics import Metrics
from consumer.models import Model, describe
from consumer.publish import Publisher, TransactionalPublisher
from consumer.transaction import ExactlyOnce
from training.scoring.scorer import Scorer

GOOD = b'{"a": 1, "b": 1, "c": 1, "transaction_id": "ok-%d"}'  # score 3
MIDDLE = b'{"a": 2, "b": 1, "c": 1, "transaction_id": "mid-%d"}'  # score 6
FRAUD = b'{"a": 3, "b": 2, "c": 1, "transaction_id": "fraud-%d"}'  # score 14


class EagerDetector(FakeDetector):
    """The champion's score, a lower threshold: alerts above 5."""

    threshold = 5.0


def model(version: str, detector=None, precision: float | None = None) -> Model:
    manifest: dict = {"model_version": version, "created_at": "2026-12-01T00:00:00+00:00"}
    if precision is not None:
        manifest["metrics"] = {"validation": {"at_prevalence": {"precision": precision}}}
    return Model(Path(version), manifest, Scorer(detector or EagerDetector()))


def build(batches, exactly_once: bool = False):
    source = (FakeGroupSource if exactly_once else FakeSource)(batches)
    sink = (FakeTransactions if exactly_once else FakeSink)(source.events)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    config = fake_run_settings(
        scores_topic="scores",
        commit_interval=0,
        challenger_model_dir=Path("shadow"),
        challenger_alert_topic="shadow-alerts",
    )
    kind = TransactionalPublisher if exactly_once else Publisher
    publisher = kind(
        sink,
        metrics,
        config.alert_topic,
        config.dlq_topic,
        config.scores_topic,
        lambda: 1_700_000_010.0,
        challenger_topic=config.challenger_alert_topic,
    )
    if exactly_once:
        checkpoint = ExactlyOnce(source, publisher, metrics, 0, 5.0, sleep=lambda _: None)
        checkpoint.start()
    else:
        checkpoint = AtLeastOnce(source, publisher, metrics, 0, 5.0)
    challenger = Challenger(model("c-2", precision=0.3), metrics, config.top_features)
    loop = ScoringLoop(
        source,
        publisher,
        checkpoint,
        FakeDetector(),
        "m-1",
        metrics,
        config,
        clock=lambda: 1_700_000_010.0,
        challenger=challenger,
    )
    return loop, source, sink, registry


def run_all(loop, source):
    loop.run(stopping=lambda: not source.batches)


def test_the_challenger_scores_the_same_batch_and_publishes_to_its_own_topic_only():
    batch = [message(GOOD % 0, 0), message(MIDDLE % 1, 1), message(FRAUD % 2, 2)]
    loop, source, sink, _ = build([batch])
    run_all(loop, source)

    assert [r.key for r in sink.on("alerts")] == [b"fraud-2"]
    shadow = {r.key: orjson.loads(r.value) for r in sink.on("shadow-alerts")}
    assert sorted(shadow) == [b"fraud-2", b"mid-1"]
    for document in shadow.values():
        assert document["role"] == "challenger"
        assert document["model_version"] == "c-2"
        assert document["threshold"] == 5.0
    champion = orjson.loads(sink.on("alerts")[0].value)
    assert "role" not in champion  # the alert format stays as it was
    assert champion["scored_at"] == shadow[b"fraud-2"]["scored_at"]  # one batch, one moment
    assert [orjson.loads(r.value)["alert"] for r in sink.on("scores")] == [False, False, True]
    assert source.commits == [{("in", 0): 3}]


def test_metrics_carry_each_role():
    loop, source, _, registry = build([[message(MIDDLE % 0, 0), message(FRAUD % 1, 1)]])
    run_all(loop, source)

    def value(name, **labels):
        return registry.get_sample_value(name, labels)

    assert value("fraud_model_alerts_total", role="champion", model_version="m-1") == 1
    assert value("fraud_model_alerts_total", role="challenger", model_version="c-2") == 2
    assert value("fraud_alerts_total") == 1  # what was published for real
    assert value("fraud_model_role_info", role="challenger", model_version="c-2") == 1
    assert value("fraud_model_validation_precision", role="challenger", model_version="c-2") == 0.3
    assert value("fraud_transactions_scored_total") == 2  # decoded and counted once


def test_under_exactly_once_both_roles_alerts_share_the_batch_transaction():
    loop, source, sink, _ = build([[message(FRAUD % 0, 0)]], exactly_once=True)
    run_all(loop, source)
    assert sink.events.count("commit_txn") == 1
    assert [r.topic for r, _ in sink.in_flight] == ["alerts", "scores", "shadow-alerts"]


def test_a_failed_challenger_alert_fails_the_batch_as_a_real_one_does():
    from consumer.errors import DeliveryError

    loop, source, sink, _ = build([[message(FRAUD % 0, 0)]])
    sink.fail = "shadow-alerts"
    with pytest.raises(DeliveryError, match="shadow-alerts"):
        run_all(loop, source)
    assert source.commits == []


def test_a_newer_challenger_is_used_from_the_next_batch():
    class Watch:
        def __init__(self, newer):
            self.newer = newer

        def poll(self):
            newer, self.newer = self.newer, None
            return newer

    loop, source, sink, registry = build([[message(MIDDLE % 0, 0)], [message(MIDDLE % 1, 1)]])
    loop.challenger.models = Watch(None)
    loop.step()
    loop.challenger.models = Watch(model("c-3", FakeDetector(), precision=0.5))
    loop.step()
    run_all(loop, source)
    versions = [orjson.loads(r.value)["model_version"] for r in sink.on("shadow-alerts")]
    assert versions == ["c-2"]  # c-3 alerts above 10 only: mid-1 (6) is quiet
    value = registry.get_sample_value
    assert value("fraud_model_role_info", {"role": "challenger", "model_version": "c-2"}) is None
    assert value("fraud_model_validation_precision", {"role": "challenger", "model_version": "c-3"})
    assert value("fraud_model_reloads_total", {"outcome": "loaded"}) == 1


def test_describe_exports_the_champions_validation_precision_and_replaces_it():
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    describe(metrics, model("v1", FakeDetector(), precision=0.25))
    describe(metrics, model("v2", FakeDetector()))  # a bundle that does not say
    labels = {"role": "champion"}
    value = registry.get_sample_value
    assert value("fraud_model_validation_precision", labels | {"model_version": "v1"}) is None
    assert value("fraud_model_validation_precision", labels | {"model_version": "v2"}) is None
    assert value("fraud_model_role_info", labels | {"model_version": "v2"}) == 1


def test_settings_need_both_challenger_options_and_a_topic_of_its_own():
    with pytest.raises(ConfigError, match="both --challenger-model-dir"):
        fake_run_settings(challenger_model_dir=Path("x"))
    with pytest.raises(ConfigError, match="must all differ"):
        fake_run_settings(challenger_model_dir=Path("x"), challenger_alert_topic="alerts")


def test_a_challenger_expecting_other_features_is_refused(tmp_path, monkeypatch):
    import consumer.challenger as module

    class Other(FakeDetector):
        feature_names = ("a", "c", "b")

    monkeypatch.setattr(
        module.ModelDirectory, "first", lambda self: model("odd", Other(), precision=None)
    )
    settings = fake_run_settings(
        challenger_model_dir=tmp_path, challenger_alert_topic="shadow-alerts"
    )
    metrics = Metrics(CollectorRegistry())
    with pytest.raises(ConfigError, match="both must score the same columns"):
        build_challenger(settings, metrics, FakeDetector.feature_names)
    assert build_challenger(fake_run_settings(), metrics, FakeDetector.feature_names) is None
