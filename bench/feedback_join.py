"""Verdicts per CPU-second through the feedback core, with a realistic mix of verdicts and alerts.

    .venv/bin/python bench/feedback_join.py [--verdicts 200000] [--alerts 500000]
        [--partitions 6] [--seed 0]

Is the issue's target, 20,000 verdicts a second in one process, within reach of the pure
Python core (docs/feedback.md)? One member holds every labels partition and an alert index
filled with `--alerts` alerts of two roles (the challenger alerts on 80% of what the champion
does, plus its own). Verdicts arrive as raw JSON messages in poll batches of 1,000, 20,000 a
second of simulated time, each on its home partition:

- 45% analysts' verdicts on alerted transactions (60% of them fraud),
- 30% chargebacks (fraud), a third on alerted transactions and the rest missed,
- 10% legitimate verdicts on transactions no one alerted on,
- 10% repeats of an earlier verdict, 5% conflicting ones (a chargeback after "legit"),

and one new alert per 20 verdicts. Per batch: decode (`decode_verdicts`), the home partition
check the edge makes before taking a verdict (`FeedbackJoin.home`), `add_verdict`, and
`advance` to the batch's time; per simulated second (a commit): every ledger's changes
encoded as changelog records. Prints verdicts per CPU-second for the whole and each part, and
memory per alert and per remembered verdict (tracemalloc, in a separate smaller run).
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
from confluent_kafka import Message

from consumer.feedback.alert_records import Alert
from consumer.feedback.changelog import changelog_records
from consumer.feedback.join import FeedbackJoin
from consumer.feedback.ledger import Limits
from consumer.feedback.verdicts import decode_verdicts

ROLES = ("champion", "challenger")
RATE = 20_000.0  # verdicts per simulated second
BATCH = 1000
STAGES = ("supervised", "supervised+autoencoder", "autoencoder")
VERSIONS = {"champion": "20261128T133420Z-a52a9009", "challenger": "20261201T090000Z-77c1e0b2"}
# A short grace period and horizon, so that every verdict is settled and forgotten within the
# run (as in a steady state), and alerts timed to outlive it (see `alerts_for`).
LIMITS = Limits(grace=1.0, horizon=2.0, max_alerts=5_000_000, max_verdicts=5_000_000)
T0 = 1_796_000_000.0


def tx_id(n: int) -> str:
    """Return a transaction id as long as a card processor's (21 characters)."""
    return f"{n:016x}-card"


def alerts_for(n_alerts: int, rng: random.Random) -> list[Alert]:
    """Return alerts of both roles on transactions 0, 3, 6...: the challenger shares 80%."""
    alerts = []
    for k in range(n_alerts // 2):
        tx = tx_id(3 * k)
        at = T0 + 10**6  # outlives the run: the verdicts find their alerts
        alerts.append(Alert(tx, "champion", VERSIONS["champion"], rng.choice(STAGES), at))
        other = tx if rng.random() < 0.8 else tx_id(3 * k + 1)
        alerts.append(Alert(other, "challenger", VERSIONS["challenger"], rng.choice(STAGES), at))
    return alerts


def verdict_messages(n: int, n_alerts: int, partitions: int, rng: random.Random) -> list[Message]:
    """Return `n` verdict messages in arrival order, each on its home partition."""
    join = FeedbackJoin(ROLES, partitions, LIMITS)
    alerted = n_alerts // 2
    said: list[tuple[str, bool]] = []
    messages = []
    for i in range(n):
        draw = rng.random()
        if draw < 0.45:
            tx, fraud, source = tx_id(3 * rng.randrange(alerted)), rng.random() < 0.6, "analyst"
        elif draw < 0.75:
            alert_on = rng.random() < 1 / 3
            n_tx = 3 * rng.randrange(alerted) if alert_on else 3 * rng.randrange(10**9) + 2
            tx, fraud, source = tx_id(n_tx), True, "chargeback"
        elif draw < 0.85:
            tx, fraud, source = tx_id(3 * rng.randrange(10**9) + 2), False, "customer"
        elif draw < 0.95 and said:
            tx, fraud = rng.choice(said)
            source = "analyst"
        else:
            tx, fraud, source = (rng.choice(said)[0] if said else tx_id(2)), True, "chargeback"
        said.append((tx, fraud))
        at = T0 + i / RATE
        value = orjson.dumps(
            {"transaction_id": tx, "fraud": fraud, "source": source, "labelled_at": at}
        )
        millis = int(at * 1000)
        messages.append(
            Message(
                topic="labels",
                partition=join.home(tx),
                offset=i,
                key=tx.encode(),
                value=value,
                timestamp=(1, millis),
            )
        )
    return messages


def run(messages: list[Message], alerts: list[Alert], partitions: int) -> dict[str, float]:
    """Play the verdicts through a member's join; return CPU seconds per part."""
    join = FeedbackJoin(ROLES, partitions, LIMITS)
    for p in range(partitions):
        join.assign(p)
    for alert in alerts:
        join.add_alert(alert)
    spent: dict[str, float] = defaultdict(float)
    live = iter(
        Alert(tx_id(3 * 10**9 + k), "champion", VERSIONS["champion"], "supervised", T0 + k / 1000)
        for k in range(len(messages))
    )

    @contextmanager
    def timed(part: str) -> Iterator[None]:
        started = time.process_time()
        yield
        spent[part] += time.process_time() - started

    for start in range(0, len(messages), BATCH):
        batch = messages[start : start + BATCH]
        with timed("decode"):
            verdicts = decode_verdicts(batch, 65536).verdicts
        with timed("join"):
            for message, verdict in verdicts:
                partition = message.partition()
                if join.home(verdict.transaction_id) != partition:  # the edge's routing check
                    raise AssertionError("the bench places every verdict on its home partition")
                join.add_verdict(partition, verdict, message.timestamp()[1] / 1000.0)
        with timed("alerts"):
            for _ in range(BATCH // 20):
                join.add_alert(next(live))
        with timed("settle"):
            join.advance(T0 + (start + len(batch)) / RATE)
        if (start // BATCH + 1) % int(RATE / BATCH) == 0:
            with timed("changelog"):
                _encode_changes(join)
    with timed("changelog"):
        _encode_changes(join)
    return dict(spent)


def _encode_changes(join: FeedbackJoin) -> int:
    return sum(
        len(changelog_records(ledger.take_changes(), ROLES)) for ledger in join.ledgers.values()
    )


def memory(n: int, partitions: int) -> tuple[float, float]:
    """Return bytes per indexed alert and per remembered verdict, measured with tracemalloc.

    Alerts and verdicts are made inside the traced run, then dropped, so what stays is what
    the join holds: ids, entries, heaps and dicts.
    """
    rng = random.Random(1)
    messages = verdict_messages(n, n, partitions, rng)
    tracemalloc.start()
    join = FeedbackJoin(ROLES, partitions, LIMITS)
    for p in range(partitions):
        join.assign(p)
    base = tracemalloc.get_traced_memory()[0]
    for alert in alerts_for(n, rng):
        join.add_alert(alert)
    after_alerts = tracemalloc.get_traced_memory()[0]
    for message, verdict in decode_verdicts(messages, 65536).verdicts:
        join.add_verdict(join.home(verdict.transaction_id), verdict, message.timestamp()[1] / 1000)
    for ledger in join.ledgers.values():
        ledger.take_changes()
    after_verdicts = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    entries = sum(len(ledger.entries) for ledger in join.ledgers.values())
    return (after_alerts - base) / len(join.alerts), (after_verdicts - after_alerts) / entries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verdicts", type=int, default=200_000)
    parser.add_argument("--alerts", type=int, default=500_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    alerts = alerts_for(args.alerts, rng)
    messages = verdict_messages(args.verdicts, args.alerts, args.partitions, rng)
    spent = run(messages, alerts, args.partitions)
    total = sum(spent.values())
    print(
        f"{args.verdicts:,} verdicts against {len(alerts):,} alerts, "
        f"{args.partitions} partitions: {args.verdicts / total:,.0f} verdicts per CPU-second"
    )
    for part, seconds in spent.items():
        print(f"  {part:<10} {seconds:7.3f} s  {100 * seconds / total:5.1f}%")
    per_alert, per_verdict = memory(100_000, args.partitions)
    print(f"memory: {per_alert:,.0f} bytes per alert, {per_verdict:,.0f} per remembered verdict")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
