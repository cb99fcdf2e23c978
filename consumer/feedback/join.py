"""The feedback join: each transaction's first verdict against each role's alert, counted once.

Pure: no Kafka, no clock. A member feeds it every alert it reads (all alert partitions), each
verdict read on the verdict's home labels partition, and the *alert watermark*: a time up to
which every alert partition has been read to its end. It holds the `AlertIndex` and one
`Ledger` per labels partition; docs/feedback.md says why, and how it survives a restart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from consumer.feedback.alert_index import AlertIndex
from consumer.feedback.alert_records import Alert
from consumer.feedback.counts import Count
from consumer.feedback.ledger import Entry, Ledger, Limits
from consumer.feedback.partitioning import home_partition
from consumer.feedback.verdicts import Verdict


class FeedbackJoin:
    """One member's join: the alert index and a ledger per labels partition it holds.

    Parameters:
        roles: the roles whose alerts are read, e.g. ("champion", "challenger").
        partitions: how many partitions the labels topic has (to find a home partition).
        limits: grace period, horizon and capacities.

    >>> from consumer.feedback.verdicts import Verdict
    >>> join = FeedbackJoin(("champion", "challenger"), 1, Limits(60.0, 3600.0, 100, 100))
    >>> join.assign(0)
    []
    >>> join.add_verdict(0, Verdict("t1", True, "analyst", 0.0), arrived_at=100.0)
    []
    >>> join.add_alert(Alert("t1", "champion", "v1", "autoencoder", alerted_at=90.0))
    [AlertCount(role='champion', model_version='v1', stage='autoencoder', verdict='fraud'), \
FraudCount(role='champion', caught='true')]
    >>> join.advance(160.0)
    [FraudCount(role='challenger', caught='false')]
    """

    def __init__(self, roles: Sequence[str], partitions: int, limits: Limits):
        if not roles or len(set(roles)) != len(roles):
            raise ValueError("the join needs one or more distinct roles")
        self.roles = tuple(roles)
        self.partitions = partitions
        self.limits = limits
        self.alerts = AlertIndex(self.roles, limits.horizon, limits.max_alerts)
        self.ledgers: dict[int, Ledger] = {}
        self._last_home = ("", 0)  # the edge asks `home` and then `add_verdict`: one hash

    def home(self, transaction_id: str) -> int:
        """Return the labels partition whose ledger holds this transaction."""
        last_id, last_home = self._last_home
        if transaction_id == last_id:
            return last_home
        home = home_partition(transaction_id, self.partitions)
        self._last_home = (transaction_id, home)
        return home

    def assign(
        self,
        partition: int,
        entries: Mapping[str, Entry] | None = None,
        totals: Mapping[Count, int] | None = None,
    ) -> list[Count]:
        """Hold a labels partition, restored from its changelog; return the counts its
        waiting roles make against the alerts already indexed."""
        ledger = Ledger(self.alerts, self.limits, entries, totals)
        self.ledgers[partition] = ledger
        return ledger.recheck()

    def revoke(self, partition: int) -> None:
        """Stop holding a labels partition (its state lives on in the changelog)."""
        self.ledgers.pop(partition, None)

    def add_alert(self, alert: Alert) -> list[Count]:
        """Index an alert; return the counts it made for a verdict held here."""
        if not self.alerts.add(alert):
            return []
        # A transaction's entry can only be in its home ledger: probing the few ledgers held
        # costs less than hashing the id, and most alerts have no verdict yet.
        for ledger in self.ledgers.values():
            if alert.transaction_id in ledger.entries:
                return ledger.alerted(alert)
        return []

    def add_verdict(self, partition: int, verdict: Verdict, arrived_at: float) -> list[Count]:
        """Take a verdict read on its home partition; return the counts it made.

        Raises:
            ValueError: the partition is not held, or is not the verdict's home (`home`): its
                other verdicts may be counted elsewhere, so it must be sent home first.
        """
        ledger = self.ledgers.get(partition)
        if ledger is None:
            raise ValueError(f"labels partition {partition} is not held by this member")
        home = self.home(verdict.transaction_id)
        if home != partition:
            raise ValueError(
                f"the verdict on {verdict.transaction_id!r} belongs on partition {home}, "
                f"not {partition}"
            )
        return ledger.verdict(verdict, arrived_at)

    def advance(self, watermark: float) -> list[Count]:
        """Move the alert watermark: forget alerts, settle and forget verdicts; return counts."""
        self.alerts.expire(watermark)
        counts: list[Count] = []
        for ledger in self.ledgers.values():
            counts += ledger.settle(watermark)
        return counts
