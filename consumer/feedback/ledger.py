"""The verdicts of one labels partition and the counts they made: the feedback join's state. Pure.

Per transaction, a `Ledger` keeps its first verdict, when it arrived and, per role, an
outcome. Every count is made by one change of one entry, and an entry only moves forward
(waiting -> matched, waiting -> missed -> late), so committing the changed entries and the
totals with the input offsets (one Kafka transaction) counts each event exactly once, however
often alerts are read again (docs/feedback.md).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from consumer.feedback.alert_index import AlertIndex
from consumer.feedback.alert_records import Alert
from consumer.feedback.counts import (
    EVICTED,
    AlertCount,
    Count,
    FraudCount,
    LateAlertCount,
    RepeatCount,
)
from consumer.feedback.verdicts import Verdict, verdict_name

# One outcome per role, as one character of `Entry.outcomes`.
WAITING = "w"  # no alert of this role seen yet, and the grace period is not over
MATCHED = "m"  # the role alerted: counted in alerts, and in frauds as caught
MISSED = "x"  # no alert within the grace period: counted in frauds as not caught
LATE = "l"  # missed, then its alert came: counted in late alerts, the rest stays
ABSENT = "-"  # the role did not run when the verdict came (restored with other roles)


class Entry(NamedTuple):
    """What a ledger keeps of one transaction: its first verdict and each role's outcome.

    A named tuple rather than a frozen dataclass: one is made per verdict and per change, and
    a tuple is made in a third of the time.
    """

    fraud: bool
    arrived_at: float  # the first verdict's arrival (its Kafka timestamp), epoch seconds
    outcomes: str  # one of WAITING, MATCHED, MISSED, LATE, ABSENT per role, in role order

    @property
    def waiting(self) -> bool:
        """Tell whether some role still waits for its alert."""
        return WAITING in self.outcomes


@dataclass(frozen=True)
class Limits:
    """How long the join waits and remembers, and how much it holds.

    Parameters:
        grace: seconds after a verdict arrived before a role with no alert is settled as
            missed; longer than alerts can lag behind verdicts.
        horizon: seconds alerts and verdicts are remembered after they arrived; longer than
            the latest verdict (a chargeback) can come after its alert.
        max_alerts: alerts the index holds (all roles); the oldest go first beyond it.
        max_verdicts: transactions one ledger (one labels partition) holds.

    Raises:
        ValueError: a limit is out of range.
    """

    grace: float
    horizon: float
    max_alerts: int
    max_verdicts: int

    def __post_init__(self) -> None:
        if not 0 <= self.grace < self.horizon < math.inf:
            raise ValueError("the grace period must be under the horizon, both finite and >= 0")
        if self.max_alerts < 1 or self.max_verdicts < 1:
            raise ValueError("the join must hold at least one alert and one verdict")


@dataclass(frozen=True)
class Changes:
    """What changed in a ledger since the last `take_changes`: what its changelog must get."""

    entries: dict[str, Entry | None]  # None: the transaction was forgotten (a tombstone)
    totals: dict[Count, int] | None  # every total, or None when no count changed


class Ledger:
    """The verdicts of one labels partition: per transaction its first verdict and outcomes.

    Parameters:
        alerts: the member's alert index, shared by every ledger.
        limits: grace period, horizon and capacity.
        entries, totals: a restored state (see `consumer.feedback.changelog`).
    """

    def __init__(
        self,
        alerts: AlertIndex,
        limits: Limits,
        entries: Mapping[str, Entry] | None = None,
        totals: Mapping[Count, int] | None = None,
    ):
        self.alerts = alerts
        self.roles = alerts.roles
        self.limits = limits
        self.watermark = -math.inf
        self.entries: dict[str, Entry] = dict(entries or {})
        self.totals: Counter[Count] = Counter(totals or {})
        # Heaps of (arrived_at, id): every entry, to forget; entries with a role waiting.
        self._arrivals = [(e.arrived_at, tx) for tx, e in self.entries.items()]
        self._pending = [(e.arrived_at, tx) for tx, e in self.entries.items() if e.waiting]
        heapq.heapify(self._arrivals)
        heapq.heapify(self._pending)
        self.waiting = len(self._pending)  # transactions with a role waiting for its alert
        self._changed: set[str] = set()
        self._totals_changed = False

    def verdict(self, verdict: Verdict, arrived_at: float) -> list[Count]:
        """Take a verdict that arrived at `arrived_at`; return the counts it made.

        The first verdict of a transaction settles each role that alerted at once; the others
        wait for their alert until the grace period is over. A later verdict is a repeat: it
        changes nothing but its own count, whatever it says.

        Raises:
            ValueError: `arrived_at` is not a finite time.
        """
        if not math.isfinite(arrived_at):
            raise ValueError(f"a verdict arrives at a finite time, not {arrived_at}")
        tx = verdict.transaction_id
        first = self.entries.get(tx)
        if first is not None:
            return self._count([_repeat(first.fraud, verdict.fraud)])
        counts: list[Count] = []
        outcomes = []
        for role in self.roles:
            facts = self.alerts.get(role, tx)
            if facts is None:
                outcomes.append(WAITING)
            else:
                outcomes.append(MATCHED)
                counts += _matched(role, facts, verdict.fraud)
        entry = Entry(verdict.fraud, arrived_at, "".join(outcomes))
        self._put(tx, entry)
        heapq.heappush(self._arrivals, (arrived_at, tx))
        if entry.waiting:
            heapq.heappush(self._pending, (arrived_at, tx))
        if len(self.entries) > self.limits.max_verdicts:
            counts += self._evict_oldest()
        return self._count(counts)

    def alerted(self, alert: Alert) -> list[Count]:
        """Take an alert new to the index; return the counts it made for a verdict here."""
        if alert.transaction_id not in self.entries:
            return []
        role = self.roles.index(alert.role)
        facts = (alert.model_version, alert.stage)
        return self._count(self._alert_for(alert.transaction_id, role, facts))

    def recheck(self) -> list[Count]:
        """Take the indexed alerts of restored entries' open roles; return the counts.

        After a restart, alerts may be indexed before the ledger is restored: an entry then
        learns of them here rather than from `alerted`, whether it waits for them (matched) or
        was settled without them (late).
        """
        counts: list[Count] = []
        for tx, entry in list(self.entries.items()):
            if WAITING in entry.outcomes or MISSED in entry.outcomes:
                for role, name in enumerate(self.roles):
                    facts = self.alerts.get(name, tx)
                    if facts is not None:
                        counts += self._alert_for(tx, role, facts)
        return self._count(counts)

    def _alert_for(self, tx: str, role: int, facts: tuple[str, str]) -> list[Count]:
        """Move a role's outcome on its alert (model version, stage); return the counts."""
        entry = self.entries[tx]
        outcome = entry.outcomes[role]
        if outcome == WAITING:
            self._put(tx, _with(entry, role, MATCHED))
            return list(_matched(self.roles[role], facts, entry.fraud))
        if outcome == MISSED:
            self._put(tx, _with(entry, role, LATE))
            return [_late(self.roles[role], entry.fraud)]
        return []  # matched or late already: the alert was read before (a restart)

    def settle(self, watermark: float) -> list[Count]:
        """Settle roles still waiting past the grace period, forget entries past the horizon.

        `watermark`: every alert partition has been read to its end as of this time.
        """
        self.watermark = max(self.watermark, watermark)
        counts: list[Count] = []
        pending, grace = self._pending, self.limits.grace
        while pending and pending[0][0] + grace <= self.watermark:
            arrived_at, tx = heapq.heappop(pending)
            entry = self.entries.get(tx)
            # Not an entry evicted since, nor a later one of the same transaction.
            if entry is not None and entry.arrived_at == arrived_at:
                counts += self._miss_waiting(tx)
        arrivals, horizon = self._arrivals, self.limits.horizon
        while arrivals and arrivals[0][0] + horizon <= self.watermark:
            _, tx = heapq.heappop(arrivals)
            self._put(tx, None)  # settled: the grace period is shorter than the horizon
        return self._count(counts)

    def take_changes(self) -> Changes:
        """Return what changed since the last call, and start a new round."""
        entries = {tx: self.entries.get(tx) for tx in self._changed}
        totals = dict(self.totals) if self._totals_changed else None
        self._changed = set()
        self._totals_changed = False
        return Changes(entries, totals)

    def _evict_oldest(self) -> list[Count]:
        _, tx = heapq.heappop(self._arrivals)
        counts = self._miss_waiting(tx)
        self._put(tx, None)
        return [*counts, EVICTED]

    def _miss_waiting(self, tx: str) -> list[Count]:
        """Settle every waiting role of a transaction as missed; return the counts."""
        entry = self.entries[tx]
        if not entry.waiting:
            return []  # matched since
        counts: list[Count] = []
        if entry.fraud:
            counts = [
                _missed(role)
                for role, outcome in zip(self.roles, entry.outcomes, strict=True)
                if outcome == WAITING
            ]
        self._put(tx, Entry(entry.fraud, entry.arrived_at, entry.outcomes.replace(WAITING, MISSED)))
        return counts

    def _put(self, tx: str, entry: Entry | None) -> None:
        old = self.entries.get(tx)
        if old is not None and old.waiting:
            self.waiting -= 1
        if entry is None:
            del self.entries[tx]
        else:
            self.entries[tx] = entry
            self.waiting += entry.waiting
        self._changed.add(tx)

    def _count(self, counts: list[Count]) -> list[Count]:
        if counts:
            totals = self.totals
            for count in counts:  # Counter.update checks for a Mapping first: slower
                totals[count] += 1
            self._totals_changed = True
        return counts


# The counts are few distinct values made millions of times: each is made once and shared.
@lru_cache(maxsize=4096)
def _matched(role: str, facts: tuple[str, str], fraud: bool) -> tuple[Count, ...]:
    version, stage = facts
    alert: Count = AlertCount(role, version, stage, verdict_name(fraud))
    return (alert, FraudCount(role, "true")) if fraud else (alert,)


@lru_cache(maxsize=64)
def _missed(role: str) -> Count:
    return FraudCount(role, "false")


@lru_cache(maxsize=64)
def _late(role: str, fraud: bool) -> Count:
    return LateAlertCount(role, verdict_name(fraud))


@lru_cache(maxsize=4)
def _repeat(first: bool, later: bool) -> Count:
    return RepeatCount(verdict_name(first), verdict_name(later))


def _with(entry: Entry, role: int, outcome: str) -> Entry:
    outcomes = entry.outcomes[:role] + outcome + entry.outcomes[role + 1 :]
    return Entry(entry.fraud, entry.arrived_at, outcomes)
