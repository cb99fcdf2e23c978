"""The alerts a feedback member remembers: the first alert per transaction and role. Pure.

Every member holds all of it (alerts are a fraction of a percent of traffic, and which labels
partition a transaction's verdicts land on cannot be told from the alert topics), and rebuilds
it from the alert topics after a restart, reading from a horizon ago.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

from consumer.feedback.alert_records import Alert


class AlertIndex:
    """The first alert of each role per transaction, kept a horizon after it was raised.

    >>> index = AlertIndex(("champion",), horizon=10.0, capacity=100)
    >>> index.add(Alert("t1", "champion", "v1", "autoencoder", alerted_at=5.0))
    True
    >>> index.get("champion", "t1"), index.expire(15.0), index.get("champion", "t1")
    (('v1', 'autoencoder'), 1, None)
    """

    def __init__(self, roles: Sequence[str], horizon: float, capacity: int):
        self.roles = tuple(roles)
        self.horizon = horizon
        self.capacity = capacity
        self.watermark = -math.inf
        self.evicted = 0
        self._by_role: dict[str, dict[str, tuple[str, str]]] = {role: {} for role in roles}
        # One shared tuple per (model_version, stage): millions of alerts, a handful of values.
        self._facts: dict[tuple[str, str], tuple[str, str]] = {}
        self._expiry: list[tuple[float, str, str]] = []  # heap of (alerted_at, role, id)

    def add(self, alert: Alert) -> bool:
        """Remember an alert; tell whether it is new (not a repeat, not beyond the horizon).

        Raises:
            ValueError: the alert's role is not one of the index's roles, or its time is not
                finite (it would break the order the index forgets alerts in).
        """
        known = self._by_role.get(alert.role)
        if known is None:
            raise ValueError(f"alert of role {alert.role!r}; the join knows {self.roles}")
        if not math.isfinite(alert.alerted_at):
            raise ValueError(f"an alert is raised at a finite time, not {alert.alerted_at}")
        tx = alert.transaction_id
        if tx in known or alert.alerted_at + self.horizon <= self.watermark:
            return False
        facts = (alert.model_version, alert.stage)
        known[tx] = self._facts.setdefault(facts, facts)
        heapq.heappush(self._expiry, (alert.alerted_at, alert.role, tx))
        if len(self._expiry) > self.capacity:
            self._drop_oldest()
            self.evicted += 1
        return True

    def get(self, role: str, transaction_id: str) -> tuple[str, str] | None:
        """Return (model_version, stage) of the role's alert on a transaction, if remembered."""
        return self._by_role[role].get(transaction_id)

    def expire(self, watermark: float) -> int:
        """Forget alerts raised a horizon or more before `watermark`; return how many."""
        self.watermark = max(self.watermark, watermark)
        forgotten = 0
        while self._expiry and self._expiry[0][0] + self.horizon <= self.watermark:
            self._drop_oldest()
            forgotten += 1
        return forgotten

    def count(self, role: str) -> int:
        """Return how many alerts of a role are remembered."""
        return len(self._by_role[role])

    def __len__(self) -> int:
        return len(self._expiry)

    def _drop_oldest(self) -> None:
        _, role, tx = heapq.heappop(self._expiry)
        del self._by_role[role][tx]
