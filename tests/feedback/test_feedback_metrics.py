"""The feedback metrics: committed totals per partition, and the join's size."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from consumer.feedback.alert_records import Alert
from consumer.feedback.counts import EVICTED, AlertCount, FraudCount, LateAlertCount, RepeatCount
from consumer.feedback.join import FeedbackJoin
from consumer.feedback.ledger import Limits
from consumer.feedback.metrics import FeedbackMetrics
from consumer.feedback.verdicts import Verdict

ROLES = ("champion", "challenger")


def sample(registry, name, **labels):
    return registry.get_sample_value(name, labels)


def test_committed_totals_are_exported_per_partition_until_it_is_revoked():
    registry = CollectorRegistry()
    metrics = FeedbackMetrics(ROLES, registry)
    totals = {
        AlertCount("champion", "v1", "supervised", "fraud"): 4,
        FraudCount("champion", "true"): 4,
        RepeatCount("legit", "fraud"): 2,
        LateAlertCount("challenger", "legit"): 1,
        EVICTED: 3,
    }
    metrics.committed.publish(2, totals)
    alerts = {"role": "champion", "model_version": "v1", "stage": "supervised", "verdict": "fraud"}
    assert sample(registry, "fraud_feedback_alerts_total", partition="2", **alerts) == 4
    assert (
        sample(
            registry, "fraud_feedback_frauds_total", partition="2", role="champion", caught="true"
        )
        == 4
    )
    for role in ROLES:  # both sides of every role's recall, from zero
        assert (
            sample(
                registry, "fraud_feedback_frauds_total", partition="2", role=role, caught="false"
            )
            == 0
        )
    assert (
        sample(
            registry,
            "fraud_feedback_repeated_verdicts_total",
            partition="2",
            first="legit",
            later="fraud",
        )
        == 2
    )
    assert (
        sample(
            registry,
            "fraud_feedback_late_alerts_total",
            partition="2",
            role="challenger",
            verdict="legit",
        )
        == 1
    )
    assert sample(registry, "fraud_feedback_verdicts_evicted_total", partition="2") == 3
    metrics.committed.publish(2, {FraudCount("champion", "true"): 5})
    assert (
        sample(
            registry, "fraud_feedback_frauds_total", partition="2", role="champion", caught="true"
        )
        == 5
    )
    metrics.committed.forget(2)
    assert b"fraud_feedback_frauds_total{" not in generate_latest(registry)
    assert sample(registry, "fraud_feedback_invalid_verdicts_total", reason="bad_field") == 0
    assert sample(registry, "fraud_feedback_unreadable_alerts_total", reason="not_json") == 0


def test_the_join_size_and_watermark_are_exported():
    registry = CollectorRegistry()
    metrics = FeedbackMetrics(ROLES, registry)
    join = FeedbackJoin(ROLES, 1, Limits(60.0, 3600.0, 1, 100))
    join.assign(0)
    join.add_alert(Alert("t1", "champion", "v1", "autoencoder", 0.0))
    join.add_alert(Alert("t2", "champion", "v1", "autoencoder", 1.0))  # evicts t1: capacity 1
    join.add_verdict(0, Verdict("t2", True, "analyst", 0.0), 5.0)  # challenger waits
    join.add_verdict(0, Verdict("t3", False, "analyst", 0.0), 5.0)
    join.advance(5.0 + 60.0)
    join.add_verdict(0, Verdict("t4", False, "analyst", 0.0), 70.0)
    metrics.observe(join, 65.0)
    assert sample(registry, "fraud_feedback_alerts_indexed", role="champion") == 1
    assert sample(registry, "fraud_feedback_alerts_indexed", role="challenger") == 0
    assert sample(registry, "fraud_feedback_alerts_evicted") == 1
    assert (
        sample(registry, "fraud_feedback_verdicts_remembered", partition="0", state="waiting") == 1
    )
    assert (
        sample(registry, "fraud_feedback_verdicts_remembered", partition="0", state="settled") == 2
    )
    assert sample(registry, "fraud_feedback_alert_watermark_seconds") == 65.0
