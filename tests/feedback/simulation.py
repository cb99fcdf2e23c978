"""A feedback member over simulated topics, and the independent batch join it must agree with.

`Member` plays what the Kafka edge will do around the pure join: alert topics read by every
member (rebuilt from the start after a crash), labels partitions whose offsets are committed in
one transaction with the changed ledger entries and totals (a compacted changelog, here a list
of records read back with `changelog.restore`), and a crash that drops everything not
committed. `batch_join` computes the counts from the whole topics at once, without the join.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from consumer.feedback.alert_records import Alert
from consumer.feedback.changelog import Record, changelog_records, restore
from consumer.feedback.counts import AlertCount, Count, FraudCount, LateAlertCount, RepeatCount
from consumer.feedback.join import FeedbackJoin
from consumer.feedback.ledger import Limits
from consumer.feedback.partitioning import home_partition
from consumer.feedback.verdicts import Verdict, verdict_name

ROLES = ("champion", "challenger")


@dataclass
class Topics:
    """What the brokers hold: alert logs per role, labels logs per partition, changelogs."""

    partitions: int
    alerts: dict[str, list[Alert]] = field(default_factory=lambda: {r: [] for r in ROLES})
    labels: list[list[tuple[Verdict, float]]] = field(default_factory=list)
    changelog: list[list[Record]] = field(default_factory=list)
    committed: list[int] = field(default_factory=list)  # the group's offset per partition

    def __post_init__(self) -> None:
        self.labels = [[] for _ in range(self.partitions)]
        self.changelog = [[] for _ in range(self.partitions)]
        self.committed = [0] * self.partitions

    def publish_alert(self, alert: Alert) -> None:
        self.alerts[alert.role].append(alert)

    def publish_verdict(self, verdict: Verdict, arrived_at: float) -> None:
        self.labels[home_partition(verdict.transaction_id, self.partitions)].append(
            (verdict, arrived_at)
        )

    def committed_totals(self) -> Counter[Count]:
        """Return the totals Prometheus would read: every partition's committed totals, summed."""
        totals: Counter[Count] = Counter()
        for records in self.changelog:
            totals += restore(records, ROLES)[1]
        return totals


class Member:
    """One feedback member holding every labels partition, started from what is committed."""

    def __init__(self, topics: Topics, limits: Limits, alerts_first: bool = True):
        self.topics = topics
        self.join = FeedbackJoin(ROLES, topics.partitions, limits)
        self.read_alerts = {role: 0 for role in ROLES}
        self.positions = list(topics.committed)
        if alerts_first:
            self.catch_up_alerts()
        for p in range(topics.partitions):
            entries, totals = restore(topics.changelog[p], ROLES)
            self.join.assign(p, entries, totals)
        self.catch_up_alerts()  # either way, the alerts are read before any verdict

    def catch_up_alerts(self) -> None:
        """Read every alert published and not read yet."""
        for role, log in self.topics.alerts.items():
            for alert in log[self.read_alerts[role] :]:
                self.join.add_alert(alert)
            self.read_alerts[role] = len(log)

    def read_verdict(self, partition: int) -> None:
        """Read the next verdict of a labels partition, if there is one."""
        log = self.topics.labels[partition]
        if self.positions[partition] < len(log):
            verdict, arrived_at = log[self.positions[partition]]
            self.join.add_verdict(partition, verdict, arrived_at)
            self.positions[partition] += 1

    def read_partition(self, partition: int) -> None:
        """Read a labels partition to its end."""
        while self.positions[partition] < len(self.topics.labels[partition]):
            self.read_verdict(partition)

    def read_all(self) -> None:
        self.catch_up_alerts()
        for p in range(self.topics.partitions):
            self.read_partition(p)

    def commit(self) -> None:
        """Commit one transaction: each ledger's changes to its changelog, and the offsets."""
        for p, ledger in self.join.ledgers.items():
            self.topics.changelog[p] += changelog_records(ledger.take_changes(), ROLES)
        self.topics.committed = list(self.positions)


def batch_join(topics: Topics) -> Counter[Count]:
    """Return the counts of the whole topics, computed at once: the independent join.

    Per transaction, its first verdict in its labels log; per role, the first alert in the
    role's log. An alerted transaction counts in alerts by its alert's version and stage, and
    a fraud in frauds as caught or not; every verdict after the first is a repeat.
    """
    first_alert: dict[tuple[str, str], Alert] = {}
    for role, log in topics.alerts.items():
        for alert in log:
            first_alert.setdefault((role, alert.transaction_id), alert)
    counts: Counter[Count] = Counter()
    first_verdict: dict[str, Verdict] = {}
    for log in topics.labels:
        for verdict, _ in log:
            first = first_verdict.setdefault(verdict.transaction_id, verdict)
            if first is not verdict:
                counts[RepeatCount(first.name, verdict.name)] += 1
    for tx, verdict in first_verdict.items():
        for role in ROLES:
            alert = first_alert.get((role, tx))
            if alert is not None:
                counts[AlertCount(role, alert.model_version, alert.stage, verdict.name)] += 1
            if verdict.fraud:
                counts[FraudCount(role, "true" if alert else "false")] += 1
    return counts


def reconciled(counts: Counter[Count]) -> dict[tuple[str, ...], int]:
    """Return counts as the batch join would have made them had no alert come late.

    A late alert was counted in frauds as not caught and in late alerts; the batch join,
    which sees every alert, counts it in alerts and, for a fraud, as caught. Versions and
    stages are summed, as a late alert's count does not carry them.
    """
    out: Counter[tuple[str, ...]] = Counter()
    for count, n in counts.items():
        if isinstance(count, AlertCount):
            out["alerts", count.role, count.verdict] += n
        elif isinstance(count, FraudCount):
            out["frauds", count.role, count.caught] += n
        elif isinstance(count, LateAlertCount):
            out["alerts", count.role, count.verdict] += n
            if count.verdict == verdict_name(True):
                out["frauds", count.role, "true"] += n
                out["frauds", count.role, "false"] -= n
        elif isinstance(count, RepeatCount):
            out["repeats", count.first, count.later] += n
    return {key: n for key, n in out.items() if n != 0}
