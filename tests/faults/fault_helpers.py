"""What every fault scenario shares: keyed input, consumers by mode, the checks, the figures."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
from consumer_helpers import (
    ConsumerProcess,
    committed,
    end_offsets,
    read_topic,
    watermarks,
)
from kafka_helpers import REPO_ROOT

# At least 20,000 keyed transactions per scenario in the test command; more with FRAUD_FAULT_N.
N = max(int(os.environ.get("FRAUD_FAULT_N", "20000")), 1)
AT_LEAST_ONCE = "at-least-once"
EXACTLY_ONCE = "exactly-once"
MODES = (AT_LEAST_ONCE, EXACTLY_ONCE)
PARTITIONS = 4
RESULTS: list[Outcome] = []
# A member killed for good leaves its transaction open until the broker aborts it: at most
# transaction.timeout.ms after it began (the tests set 10 s where a member stays dead) plus
# one scan of transaction.abort.timed.out.transaction.cleanup.interval.ms (10 s by default).
OPEN_TRANSACTION_BOUND_S = 45
COMMAND = "scripts/reliability"  # FRAUD_FAULT_N=100000 for more; scripts/test writes nothing


@dataclass(frozen=True)
class Outcome:
    """The figures of one scenario in one mode."""

    scenario: str
    mode: str
    n: int
    k: int
    lost: int
    duplicated: int
    dead_lettered: int
    recovery_s: float

    def line(self) -> str:
        return (
            f"{self.scenario} [{self.mode}]: N={self.n} K={self.k} lost={self.lost}"
            f" duplicated={self.duplicated} dead-lettered={self.dead_lettered}"
            f" recovery={self.recovery_s:.1f}s"
        )


def record(outcome: Outcome) -> Outcome:
    """Print the figures (pytest -s shows them) and keep them for RELIABILITY.md."""
    print(outcome.line(), file=sys.stderr)
    RESULTS.append(outcome)
    return outcome


def settings(topics, bootstrap: str, bundle: Path, mode: str, **extra) -> dict:
    """Return consumer settings for a scenario: small batches, frequent commits, quick failover."""
    base = dict(
        batch_size=250,
        commit_interval=0.2,
        # Passed through to librdkafka: a dead member leaves the group after 6 s, not 45 s.
        kafka_session_timeout_ms=6000,
        kafka_heartbeat_interval_ms=1000,
        exactly_once=str(mode == EXACTLY_ONCE).lower(),
    )
    return topics.settings(bootstrap, bundle, **(base | extra))


def start(tmp_path: Path, name: str, config: dict, member: str, **env: str) -> ConsumerProcess:
    """Start a consumer process named `member` (its transactional.id follows from the name)."""
    log = tmp_path / f"{name}.log"
    return ConsumerProcess(log, **config, member_id=member, **env)


def progress(bootstrap: str, group: str, topic: str, partitions: int = PARTITIONS) -> int:
    """Return how many input messages the group has committed, over all partitions."""
    return sum(max(o, 0) for o in committed(bootstrap, group, topic, partitions).values())


def wait_for(
    condition: Callable[[], bool], what: str, timeout: float = 180, *procs: ConsumerProcess
) -> None:
    """Wait until `condition()`, failing with the consumers' logs if one dies or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        for proc in procs:
            assert proc.process.poll() is None, f"consumer died waiting for {what}:\n{proc.logs()}"
        tails = "".join(f"\n--- {p.log_path.name} ---\n{p.logs()[-4000:]}" for p in procs)
        assert time.monotonic() < deadline, f"timed out waiting for {what}{tails}"
        time.sleep(0.1)


def in_slices(items: list, k: int) -> list[list]:
    """Split items into k equal slices and a last one with the rest: fresh input per fault."""
    size = len(items) // (k + 1)
    return [items[i * size : (i + 1) * size] for i in range(k)] + [items[k * size :]]


def restart_and_finish(
    tmp_path: Path, name: str, config: dict, bootstrap: str, topics, fed: int, since: float
) -> tuple[ConsumerProcess, float]:
    """Start member-0 again and wait until the group committed `fed` messages.

    Returns:
        The new process and the seconds since `since` (the fault): an upper bound on recovery,
        as it includes finishing the slice.
    """
    consumer = start(tmp_path, name, config, "member-0")
    wait_for(
        lambda: progress(bootstrap, topics.group, topics.source) >= fed,
        "the slice to be finished after a restart",
        180,
        consumer,
    )
    return consumer, time.monotonic() - since


def wait_done(
    bootstrap, topics, total: int, timeout: float = 240, *procs, partitions: int = PARTITIONS
) -> None:
    """Wait until the group committed the whole input."""
    source, group = topics.source, topics.group

    def finished() -> bool:
        return progress(bootstrap, group, source, partitions) >= total

    wait_for(finished, "the end", timeout, *procs)


@dataclass(frozen=True)
class Outputs:
    """What the consumers wrote, read read_committed, counted by transaction id."""

    scores: Counter[str]
    alerts: Counter[str]
    should_alert: set[str]
    dead: list


def outputs(bootstrap: str, topics) -> Outputs:
    scores: Counter[str] = Counter()
    should_alert: set[str] = set()
    for r in read_topic(bootstrap, topics.scores, 1):
        document = orjson.loads(r.value)
        scores[document["transaction_id"]] += 1
        if document["alert"]:
            should_alert.add(document["transaction_id"])
    alerts = Counter(
        orjson.loads(r.value)["transaction_id"] for r in read_topic(bootstrap, topics.alerts, 1)
    )
    return Outputs(scores, alerts, should_alert, read_topic(bootstrap, topics.dlq, 1))


def check(
    bootstrap: str,
    topics,
    ids: list[str],
    mode: str,
    scenario: str,
    k: int,
    recovery_s: float,
    partitions: int = PARTITIONS,
) -> Outcome:
    """Check the end state of a scenario and record its figures.

    Every id is scored (once in exactly-once mode), every alert raised (once likewise), no
    transaction is left open in an output topic once the broker has had time to abort a dead
    member's (OPEN_TRANSACTION_BOUND_S), and the group committed the whole input.
    """
    for topic in (topics.alerts, topics.scores, topics.dlq):
        wait_for(
            lambda topic=topic: (
                end_offsets(bootstrap, topic, 1, committed=True)
                == end_offsets(bootstrap, topic, 1, committed=False)
            ),
            f"no open transaction in {topic} (the broker aborts a dead member's)",
            OPEN_TRANSACTION_BOUND_S,
        )
    assert committed(bootstrap, topics.group, topics.source, partitions) == watermarks(
        bootstrap, topics.source, partitions
    )
    out = outputs(bootstrap, topics)
    lost = len(set(ids) - set(out.scores))
    duplicated = sum(out.scores.values()) - len(out.scores)
    outcome = record(
        Outcome(scenario, mode, len(ids), k, lost, duplicated, len(out.dead), recovery_s)
    )
    assert lost == 0
    assert set(out.scores) == set(ids)
    assert set(out.alerts) == out.should_alert  # every alert raised, none without its score
    if mode == EXACTLY_ONCE:
        assert duplicated == 0
        assert max(out.alerts.values(), default=1) == 1
    return outcome


def write_report(seconds: float, path: Path = REPO_ROOT / "RELIABILITY.md") -> None:
    """Write the figures of this run, and how long the scenarios took, to `path`."""
    lines = [
        "# Reliability: the fault suite's last run",
        "",
        f"Written by `{COMMAND}` (`FRAUD_FAULT_N=100000` for more transactions): the fault",
        "suite alone, one scenario at a time, against a real local Kafka broker, each consumer a",
        "separate OS process. `scripts/test` runs the same scenarios in parallel, writing nothing.",
        "lost = transaction ids never scored; duplicated = score",
        "records beyond one per id (read read_committed); dead-lettered = records in the DLQ;",
        "recovery = longest time from a fault until the group committed again (kill -9 and crash",
        "points: until it had committed all the input fed before the fault, an upper bound).",
        "K = faults injected: kills, crash points, members changed, kinds of poison input.",
        "The feedback process's row counts verdicts (N, bad ones included) and its committed",
        "counts against an independent join of the same topics: lost = counts it lacks,",
        "duplicated = counts beyond it; recovery = longest time from a kill until the restarted",
        "process was ready.",
        "",
        "| scenario | mode | N | K | lost | duplicated | dead-lettered | recovery (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for o in RESULTS:
        lines.append(
            f"| {o.scenario} | {o.mode} | {o.n} | {o.k} | {o.lost} | {o.duplicated}"
            f" | {o.dead_lettered} | {o.recovery_s:.1f} |"
        )
    lines += ["", f"The fault scenarios took {seconds:.0f} s of wall time on this machine."]
    path.write_text("\n".join(lines) + "\n")
