"""Every Prometheus metric of the feedback process, defined in one place.

The counts of the join (`consumer.feedback.counts`) are exported as each labels partition's
*committed* totals, labelled by partition: a total only grows, whichever member holds the
partition, so the recording rules of deploy/prometheus/alerts.yml take the largest value
across members and Prometheus never sees a reset, through restarts and rebalances alike
(docs/feedback.md, "Counts in Prometheus").
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import astuple, fields

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from consumer.feedback.alert_records import REASONS as ALERT_REASONS
from consumer.feedback.counts import (
    AlertCount,
    Count,
    EvictedCount,
    FraudCount,
    LateAlertCount,
    RepeatCount,
)
from consumer.feedback.join import FeedbackJoin
from consumer.feedback.verdicts import REASONS as VERDICT_REASONS

# Each count's counter: its name (without _total) and help; its labels are the count's fields.
FAMILIES: dict[type[Count], tuple[str, str]] = {
    AlertCount: (
        "fraud_feedback_alerts",
        "Alerts whose transaction has a verdict (its first), by role, model version, the "
        "stages that raised the alert and the verdict; committed totals per labels partition.",
    ),
    FraudCount: (
        "fraud_feedback_frauds",
        "Transactions whose first verdict is fraud, by role and whether the role had alerted "
        "on them (caught); committed totals per labels partition.",
    ),
    RepeatCount: (
        "fraud_feedback_repeated_verdicts",
        "Verdicts after a transaction's first, by the first verdict and this one: duplicates "
        "and conflicts, which change no other count; committed totals per labels partition.",
    ),
    LateAlertCount: (
        "fraud_feedback_late_alerts",
        "Alerts read after their role was settled as missing them (the grace period over), by "
        "role and verdict: counted here, not in alerts; committed totals per labels partition.",
    ),
    EvictedCount: (
        "fraud_feedback_verdicts_evicted",
        "Transactions forgotten before their horizon, their ledger being full: a later verdict "
        "on one counts as a first; committed totals per labels partition.",
    ),
}


class FeedbackMetrics:
    """The feedback process's metrics, registered in `registry` (a fresh one per test).

    Parameters:
        roles: the roles whose alerts are joined; their frauds counts are exported from zero.
        registry: where to register.
    """

    def __init__(self, roles: Sequence[str], registry: CollectorRegistry = REGISTRY):
        self.committed = CommittedCounts(roles, registry)
        self.invalid_verdicts = Counter(
            "fraud_feedback_invalid_verdicts",
            "Verdicts sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        for reason in VERDICT_REASONS:  # export zeros, so rate() works from the first
            self.invalid_verdicts.labels(reason)
        self.unreadable_alerts = Counter(
            "fraud_feedback_unreadable_alerts",
            "Alert records that do not read, skipped, by reason.",
            ["reason"],
            registry=registry,
        )
        for reason in ALERT_REASONS:
            self.unreadable_alerts.labels(reason)
        self.verdicts_routed = Counter(
            "fraud_feedback_verdicts_routed",
            "Verdicts read off their home partition and sent there.",
            registry=registry,
        )
        self.alerts_indexed = Gauge(
            "fraud_feedback_alerts_indexed",
            "Alerts this member remembers, by role.",
            ["role"],
            registry=registry,
        )
        self.alerts_evicted = Gauge(
            "fraud_feedback_alerts_evicted",
            "Alerts this member forgot before their horizon since it started, its index full.",
            registry=registry,
        )
        self.verdicts_remembered = Gauge(
            "fraud_feedback_verdicts_remembered",
            "Transactions whose first verdict is remembered, by labels partition and whether "
            "a role still waits for its alert.",
            ["partition", "state"],
            registry=registry,
        )
        self.verdicts_read = Counter(
            "fraud_feedback_verdicts_read",
            "Messages read from the labels topic (verdicts, sent-home copies, bad ones).",
            registry=registry,
        )
        self.alerts_read = Counter(
            "fraud_feedback_alerts_read",
            "Alert records read from the alert topics, by the topic's role (rebuilding the "
            "index after a start counts again).",
            ["role"],
            registry=registry,
        )
        for role in roles:
            self.alerts_read.labels(role)
        self.commits = Counter(
            "fraud_feedback_commits",
            "Transactions of the join's changes and the labels offsets, by outcome (ok, "
            "aborted: the changes are rolled back to the changelog and read again).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("ok", "aborted"):
            self.commits.labels(outcome)
        self.lag = Gauge(
            "fraud_feedback_lag_messages",
            "Messages behind the labels partition's high watermark.",
            ["partition"],
            registry=registry,
        )
        self.alert_watermark = Gauge(
            "fraud_feedback_alert_watermark_seconds",
            "Time up to which every alert partition has been read to its end (epoch seconds).",
            registry=registry,
        )

    def observe(self, join: FeedbackJoin, watermark: float) -> None:
        """Export the join's size and watermark (from the thread that runs the join)."""
        for role in join.roles:
            self.alerts_indexed.labels(role).set(join.alerts.count(role))
        self.alerts_evicted.set(join.alerts.evicted)
        self.verdicts_remembered.clear()
        for partition, ledger in join.ledgers.items():
            waiting = ledger.waiting
            self.verdicts_remembered.labels(str(partition), "waiting").set(waiting)
            self.verdicts_remembered.labels(str(partition), "settled").set(
                len(ledger.entries) - waiting
            )
        self.alert_watermark.set(watermark)


class CommittedCounts(Collector):
    """Export each labels partition's committed totals, as counters labelled by partition.

    >>> registry = CollectorRegistry()
    >>> counts = CommittedCounts(("champion",), registry)
    >>> counts.publish(3, {FraudCount("champion", "true"): 5})
    >>> labels = {"partition": "3", "role": "champion", "caught": "true"}
    >>> registry.get_sample_value("fraud_feedback_frauds_total", labels)
    5.0
    >>> registry.get_sample_value("fraud_feedback_frauds_total", labels | {"caught": "false"})
    0.0
    """

    def __init__(self, roles: Sequence[str], registry: CollectorRegistry):
        self.roles = tuple(roles)
        self._totals: dict[int, dict[Count, int]] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def publish(self, partition: int, totals: Mapping[Count, int]) -> None:
        """Export a partition's totals as committed (after its transaction committed)."""
        with self._lock:
            self._totals[partition] = dict(totals)

    def forget(self, partition: int) -> None:
        """Stop exporting a partition (revoked: its next holder exports it)."""
        with self._lock:
            self._totals.pop(partition, None)

    def collect(self) -> Iterator[CounterMetricFamily]:
        with self._lock:
            held = {p: dict(totals) for p, totals in self._totals.items()}
        families = {
            cls: CounterMetricFamily(
                name, documentation, labels=["partition", *(f.name for f in fields(cls))]
            )
            for cls, (name, documentation) in FAMILIES.items()
        }
        for partition, totals in sorted(held.items()):
            for role in self.roles:  # zeros, so that a role's recall has both sides at once
                for caught in ("true", "false"):
                    totals.setdefault(FraudCount(role, caught), 0)
            for count, n in totals.items():
                families[type(count)].add_metric([str(partition), *astuple(count)], float(n))
        yield from families.values()
