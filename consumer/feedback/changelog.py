"""The ledger of a labels partition as records of a compacted changelog topic, and back. Pure.

Changelog partition p holds labels partition p's ledger, written in the same Kafka
transaction as the labels offsets it reflects. Two kinds of key:

- `tx:<transaction id>`: the entry, e.g. `{"fraud": true, "arrived_at": 1700000000.5,
  "roles": {"champion": "matched", "challenger": "waiting"}}`; a tombstone once forgotten.
- `totals`: every count the ledger made, `{"counts": [["alerts", ["champion", "v1",
  "autoencoder", "fraud"], 3], ["frauds", ["champion", "true"], 3], ...]}`.

Compaction keeps the last record of each key, so a partition read from its start to its
end (read_committed) is the ledger as of its last committed transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import astuple
from functools import lru_cache
from typing import Any

import orjson

from consumer.errors import ConsumerError
from consumer.feedback.counts import (
    AlertCount,
    Count,
    EvictedCount,
    FraudCount,
    LateAlertCount,
    RepeatCount,
)
from consumer.feedback.ledger import ABSENT, LATE, MATCHED, MISSED, WAITING, Changes, Entry

ENTRY_PREFIX = b"tx:"
TOTALS_KEY = b"totals"
OUTCOMES = {WAITING: "waiting", MATCHED: "matched", MISSED: "missed", LATE: "late"}
_CODES = {name: code for code, name in OUTCOMES.items()}
KINDS: dict[str, type[Count]] = {
    "alerts": AlertCount,
    "frauds": FraudCount,
    "repeats": RepeatCount,
    "late_alerts": LateAlertCount,
    "evicted": EvictedCount,
}
_KIND_OF = {cls: kind for kind, cls in KINDS.items()}

Record = tuple[bytes, bytes | None]


class ChangelogError(ConsumerError):
    """A changelog record does not read: the ledger cannot be restored as it was committed."""


def changelog_records(changes: Changes, roles: Sequence[str]) -> list[Record]:
    """Return the records that bring a changelog up to date with a ledger's changes.

    >>> from consumer.feedback.ledger import Changes, Entry
    >>> changelog_records(Changes({"t1": Entry(True, 2.5, "mw"), "t0": None}, None),
    ...                   ("champion", "challenger"))  # doctest: +NORMALIZE_WHITESPACE
    [(b'tx:t1', b'{"fraud":true,"arrived_at":2.5,"roles":{"champion":"matched","challenger":"waiting"}}'),
     (b'tx:t0', None)]
    """  # noqa: E501 (a doctest's expected output)
    records: list[Record] = [
        (ENTRY_PREFIX + tx.encode(), None if entry is None else encode_entry(entry, roles))
        for tx, entry in changes.entries.items()
    ]
    if changes.totals is not None:
        records.append((TOTALS_KEY, encode_totals(changes.totals)))
    return records


def encode_entry(entry: Entry, roles: Sequence[str]) -> bytes:
    """Return an entry's changelog value; roles that did not run are left out."""
    outcomes = _named_outcomes(tuple(roles), entry.outcomes)
    return orjson.dumps({"fraud": entry.fraud, "arrived_at": entry.arrived_at, "roles": outcomes})


@lru_cache(maxsize=1024)
def _named_outcomes(roles: tuple[str, ...], codes: str) -> dict[str, str]:
    """Return {role: outcome name}: a few distinct values, each built once (never mutated)."""
    return {role: OUTCOMES[code] for role, code in zip(roles, codes, strict=True) if code != ABSENT}


def encode_totals(totals: dict[Count, int]) -> bytes:
    """Return the totals' changelog value, in a stable order."""
    rows = sorted([_KIND_OF[type(count)], list(astuple(count)), n] for count, n in totals.items())
    return orjson.dumps({"counts": rows})


def restore(
    records: Iterable[Record], roles: Sequence[str]
) -> tuple[dict[str, Entry], Counter[Count]]:
    """Return the entries and totals that a changelog partition's records leave, in order.

    The last record of a key wins; a tombstone forgets the transaction. A role the entry does
    not name did not run when its verdict came (ABSENT); a role that no longer runs is dropped.

    Raises:
        ChangelogError: a record does not read; the message says which and why.

    >>> entries, totals = restore([(b"tx:t1", b'{"fraud": false, "arrived_at": 3,'
    ...     b' "roles": {"champion": "missed"}}'), (b"totals", b'{"counts": [["frauds",'
    ...     b' ["champion", "false"], 2]]}')], ("champion", "challenger"))
    >>> entries, dict(totals)
    ({'t1': Entry(fraud=False, arrived_at=3.0, outcomes='x-')}, {FraudCount(role='champion', caught='false'): 2})
    """  # noqa: E501 (a doctest's expected output)
    entries: dict[str, Entry] = {}
    totals: Counter[Count] = Counter()
    for key, value in records:
        if key == TOTALS_KEY:
            totals = decode_totals(value)
        elif key.startswith(ENTRY_PREFIX):
            tx = _text(key[len(ENTRY_PREFIX) :], key)
            if value is None:
                entries.pop(tx, None)
            else:
                entries[tx] = decode_entry(value, roles, key)
        else:
            raise ChangelogError(f"changelog key {key[:60]!r} is neither totals nor tx:<id>")
    return entries, totals


def decode_entry(value: bytes, roles: Sequence[str], key: bytes = b"") -> Entry:
    """Return the entry of a changelog value.

    Raises:
        ChangelogError: the value is not an entry.
    """
    obj = _object(value, key)
    fraud, arrived_at, outcomes = obj.get("fraud"), obj.get("arrived_at", ""), obj.get("roles")
    if (
        type(fraud) is not bool
        or type(arrived_at) not in (int, float)
        or type(outcomes) is not dict
    ):
        raise ChangelogError(f"changelog entry {key[:60]!r} lacks fraud, arrived_at or roles")
    codes = [_CODES.get(outcomes[role], "") if role in outcomes else ABSENT for role in roles]
    if "" in codes:
        raise ChangelogError(f"changelog entry {key[:60]!r} has an unknown outcome")
    return Entry(fraud, float(arrived_at), "".join(codes))  # finite: orjson reads no NaN


def decode_totals(value: bytes | None) -> Counter[Count]:
    """Return the counts of a totals value.

    Raises:
        ChangelogError: the value is not a list of counts.
    """
    if value is None:
        raise ChangelogError("the changelog's totals record is a tombstone")
    rows = _object(value, TOTALS_KEY).get("counts")
    if type(rows) is not list:
        raise ChangelogError("the changelog's totals record has no list of counts")
    totals: Counter[Count] = Counter()
    for row in rows:
        totals[_count(row)] = _number(row)
    return totals


def _count(row: Any) -> Count:
    try:
        kind, labels, _ = row
        cls = KINDS[kind]
        if not all(type(label) is str for label in labels):
            raise TypeError
        return cls(*labels)
    except (TypeError, ValueError, KeyError):
        raise ChangelogError(f"changelog totals: {str(row)[:80]} is not a count") from None


def _number(row: list[Any]) -> int:
    n = row[2]
    if type(n) is not int or n < 0:
        raise ChangelogError(f"changelog totals: {str(row)[:80]} is not a count")
    return n


def _object(value: bytes, key: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ChangelogError(f"changelog record {key[:60]!r} is not JSON: {exc}") from None
    if type(obj) is not dict:
        raise ChangelogError(f"changelog record {key[:60]!r} is not a JSON object")
    return obj


def _text(raw: bytes, key: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise ChangelogError(f"changelog key {key[:60]!r} is not UTF-8") from None
