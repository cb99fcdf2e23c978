"""The loop closed: transactions joined with their verdicts, as rows of a labelled CSV. Pure.

Which verdict is the truth: a transaction's **latest** verdict, by arrival (its Kafka
timestamp; then partition and offset). A later verdict is the fraud team correcting an
earlier one, whatever its source: the chargeback that arrives weeks after an analyst cleared
the alert, or an analyst clearing an alert after the customer confirmed the payment. The
monitoring counts the *first* verdict (what the model was judged on when it mattered, and
counters cannot go down); the next `fit` should learn from the best knowledge now.

A transaction without a verdict is written as legitimate only once it is older than the
maturity (chargebacks come late); a younger one is left out. A `Class` field in the
transactions (a replayed labelled CSV) is never read: labels come from verdicts alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson

from consumer.feedback.verdicts import Verdict
from consumer.messages import EVENT_TIME_FIELD, ID_FIELD, InputMessage, event_time, transaction_id

LABEL = "Class"
NOT_FEATURES = frozenset((ID_FIELD, EVENT_TIME_FIELD, LABEL))
_NUMBER_TYPES = frozenset((int, float))  # bool left out: true is not a number


class Truths:
    """Each transaction's latest verdict.

    >>> truths = Truths()
    >>> truths.add(Verdict("t1", False, "analyst", 0.0), (100.0, 0, 5))
    >>> truths.add(Verdict("t1", True, "chargeback", 0.0), (900.0, 1, 2))
    >>> truths.add(Verdict("t1", False, "analyst", 0.0), (50.0, 0, 1))  # arrived first
    >>> truths.fraud
    {'t1': True}
    """

    def __init__(self) -> None:
        self._latest: dict[str, tuple[tuple[float, int, int], bool]] = {}

    def add(self, verdict: Verdict, order: tuple[float, int, int]) -> None:
        """Take a verdict that arrived at `order`: (Kafka timestamp, partition, offset)."""
        known = self._latest.get(verdict.transaction_id)
        if known is None or order > known[0]:
            self._latest[verdict.transaction_id] = (order, verdict.fraud)

    @property
    def fraud(self) -> dict[str, bool]:
        """Return {transaction id: whether its latest verdict says fraud}."""
        return {tx: fraud for tx, (_, fraud) in self._latest.items()}


class LabelledRows:
    """Turn transaction messages into rows of features and a 0/1 label.

    Parameters:
        truths: {transaction id: fraud} from the verdicts.
        now, maturity: epoch seconds; a transaction without a verdict is written as
            legitimate once its event time is `maturity` seconds before `now`.

    >>> from confluent_kafka import Message
    >>> rows = LabelledRows({"a": True}, now=1000.0, maturity=100.0)
    >>> rows.row(Message(value=b'{"transaction_id": "a", "V1": 1.5, "event_time": 990}'))
    [1.5, 1]
    >>> rows.row(Message(value=b'{"transaction_id": "b", "V1": 2, "event_time": 800}'))
    [2, 0]
    >>> rows.row(Message(value=b'{"transaction_id": "c", "V1": 2, "event_time": 950}'))
    >>> rows.header, dict(rows.counts)
    (['V1', 'Class'], {'fraud': 1, 'legit_matured': 1, 'too_young': 1})
    """

    def __init__(self, truths: dict[str, bool], now: float, maturity: float):
        self.truths = truths
        self.cutoff = now - maturity
        self.columns: list[str] | None = None
        self.counts: Counter[str] = Counter()
        self._seen: set[str] = set()

    @property
    def header(self) -> list[str]:
        """Return the CSV header: the features of the first transaction, then the label."""
        return [*(self.columns or []), LABEL]

    def row(self, message: InputMessage) -> list[Any] | None:
        """Return a transaction's row, or None (counted by why) when it is not written."""
        try:
            obj = orjson.loads(message.value() or b"")
        except orjson.JSONDecodeError:
            obj = None
        if type(obj) is not dict:
            self.counts["unreadable"] += 1
            return None
        tx = transaction_id(obj.get(ID_FIELD), message)
        if tx in self._seen:
            self.counts["repeated"] += 1
            return None
        if self.columns is None:
            self.columns = [name for name in obj if name not in NOT_FEATURES]
        values = [obj.get(name) for name in self.columns]
        if not all(type(v) in _NUMBER_TYPES for v in values):
            self.counts["unreadable"] += 1
            return None
        fraud = self.truths.get(tx)
        if fraud is None:
            # NaN (no time at all) is never old enough.
            if not event_time(obj.get(EVENT_TIME_FIELD), message) <= self.cutoff:
                self.counts["too_young"] += 1
                return None
            outcome = "legit_matured"
        else:
            outcome = "fraud" if fraud else "legit_confirmed"
        self._seen.add(tx)
        self.counts[outcome] += 1
        return [*values, int(bool(fraud))]

    def summary(self) -> dict[str, int]:
        """Return what was written and left out, and how many transactions with a verdict
        were not found in the transactions topic (gone past its retention, or never there)."""
        written = self.counts["fraud"] + self.counts["legit_confirmed"]
        written += self.counts["legit_matured"]
        joined = self.counts["fraud"] + self.counts["legit_confirmed"]
        names: Sequence[str] = (
            "fraud", "legit_confirmed", "legit_matured", "too_young", "unreadable", "repeated"
        )  # fmt: skip
        return {
            "rows": written,
            **{name: self.counts[name] for name in names},
            "verdicts_without_transaction": len(self.truths) - joined,
        }
