"""Play a fraud team for the demo: analysts' verdicts on alerts, chargebacks on frauds, late.

    python tools/fraud_team.py --bootstrap-servers HOST:PORT --transactions-topic T \\
        --alert-topic ALERTS [--alert-topic CHALLENGER_ALERTS] --labels-topic LABELS \\
        [--analyst-delay 3] [--chargeback-delay 8] [--idle-timeout 10]

It follows the transactions topic (whose replayed rows carry the synthetic label, `Class`)
and the alert topics. An analyst looks at every alerted transaction, whichever model raised
the alert, and says what its label says, `--analyst-delay` seconds after the alert came; every
fraud gets a chargeback `--chargeback-delay` seconds after its transaction, whether any model
caught it or not (a repeat, for the frauds analysts already confirmed). Verdicts are keyed by
transaction id and written with the murmur2 partitioner, as a Java producer would. It stops
once nothing has come for `--idle-timeout` seconds and every verdict is written, and prints
what it sent.
"""

from __future__ import annotations

import argparse
import heapq
import sys
import time
import uuid
from collections import Counter
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer


class FraudTeam:
    """Decide which verdicts to send and when. Pure: the caller gives the times.

    >>> team = FraudTeam(analyst_delay=3.0, chargeback_delay=8.0)
    >>> team.transaction("t1", fraud=True, at=100.0)
    >>> team.transaction("t2", fraud=False, at=100.0)
    >>> team.alert("t2", at=101.0); team.alert("t2", at=101.5)  # both roles: one review
    >>> team.due(104.0), team.due(110.0), team.pending
    ([('t2', False, 'analyst')], [('t1', True, 'chargeback')], 0)
    """

    def __init__(self, analyst_delay: float, chargeback_delay: float):
        self.analyst_delay = analyst_delay
        self.chargeback_delay = chargeback_delay
        self.labels: dict[str, bool] = {}
        self._reviewed: set[str] = set()
        self._early: dict[str, float] = {}  # alerts read before their transaction: when
        self._queue: list[tuple[float, int, str, bool, str]] = []
        self._order = 0

    @property
    def pending(self) -> int:
        """Return how many verdicts are scheduled and not yet due."""
        return len(self._queue)

    def transaction(self, tx: str, fraud: bool, at: float) -> None:
        """Learn a transaction's label; a fraud gets its chargeback later."""
        self.labels[tx] = fraud
        if fraud:
            self._schedule(at + self.chargeback_delay, tx, True, "chargeback")
        if tx in self._early:
            self.alert(tx, max(at, self._early.pop(tx)))

    def alert(self, tx: str, at: float) -> None:
        """Review an alerted transaction once, whichever role alerted; an alert read before
        its transaction (another topic) is reviewed once the transaction is read."""
        if tx in self._reviewed:
            return
        if tx not in self.labels:
            self._early.setdefault(tx, at)
            return
        self._reviewed.add(tx)
        self._schedule(at + self.analyst_delay, tx, self.labels[tx], "analyst")

    def due(self, now: float) -> list[tuple[str, bool, str]]:
        """Return the verdicts due by `now`, oldest first: (transaction id, fraud, source)."""
        out = []
        while self._queue and self._queue[0][0] <= now:
            _, _, tx, fraud, source = heapq.heappop(self._queue)
            out.append((tx, fraud, source))
        return out

    def _schedule(self, at: float, tx: str, fraud: bool, source: str) -> None:
        self._order += 1
        heapq.heappush(self._queue, (at, self._order, tx, fraud, source))


def verdict(tx: str, fraud: bool, source: str, at: float) -> bytes:
    """Return a verdict message as the labels topic takes it."""
    return orjson.dumps({"transaction_id": tx, "fraud": fraud, "source": source, "labelled_at": at})


def run(args: argparse.Namespace) -> Counter[str]:
    """Follow the topics and send the team's verdicts until idle; return what was sent."""
    team = FraudTeam(args.analyst_delay, args.chargeback_delay)
    reader = Consumer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": f"fraud-team-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    writer = Producer(
        {"bootstrap.servers": args.bootstrap_servers, "partitioner": "murmur2_random"}
    )
    alert_topics = set(args.alert_topic)
    reader.subscribe([args.transactions_topic, *alert_topics])
    sent: Counter[str] = Counter()
    last_input = time.monotonic()
    try:
        while team.pending or time.monotonic() - last_input < args.idle_timeout:
            for message in reader.consume(500, 0.1):
                if message.error() is not None:
                    continue
                last_input = time.monotonic()
                document = _object(message.value())
                tx = str(document.get("transaction_id", ""))
                if message.topic() in alert_topics:
                    team.alert(tx, time.time())
                elif "Class" in document:
                    team.transaction(tx, document["Class"] == 1, time.time())
            now = time.time()
            for tx, fraud, source in team.due(now):
                writer.produce(args.labels_topic, verdict(tx, fraud, source, now), tx.encode())
                sent[source] += 1
            writer.poll(0)
    finally:
        reader.close()
        writer.flush(30)
    return sent


def _object(value: bytes | None) -> dict[str, Any]:
    try:
        document = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fraud_team.py", description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--transactions-topic", required=True)
    parser.add_argument("--alert-topic", action="append", required=True, help="repeatable")
    parser.add_argument("--labels-topic", required=True)
    parser.add_argument("--analyst-delay", type=float, default=3.0, help="seconds (3)")
    parser.add_argument("--chargeback-delay", type=float, default=8.0, help="seconds (8)")
    parser.add_argument("--idle-timeout", type=float, default=10.0, help="seconds (10)")
    sent = run(parser.parse_args(argv))
    print(
        f"fraud team: {sent['analyst']} analysts' verdicts on alerts, "
        f"{sent['chargeback']} chargebacks on frauds"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
