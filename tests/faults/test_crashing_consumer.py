"""The crash points fire, from outside the consumer, at the phases of a batch they name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from crashing_consumer import ENV, crash_point, install
from prometheus_client import CollectorRegistry

from consumer import service
from consumer.loop import ScoringLoop
from consumer.metrics import Metrics

sys.path.insert(0, str(Path(__file__).parents[1] / "consumer"))  # the loop tests' fakes

from fakes import (  # noqa: E402
    FakeDetector,
    FakeGroupSource,
    FakeSource,
    FakeTransactions,
    fake_run_settings,
    message,
)

BATCH = [message(b'{"a": 3, "b": 2, "c": 1}', 0), message(b'{"a": 1, "b": 1, "c": 1}', 1)]
ONE_BATCH = ["after_consume", "after_produce", "before_commit", "after_commit"]


def run_service(monkeypatch, exactly_once, source, producer):
    """Score `source` as `service.run` wires its clients, hooks installed; return the phases."""
    monkeypatch.setattr(service, "build_consumer", lambda _settings: source)
    monkeypatch.setattr(service, "build_producer", lambda _settings: producer)
    phases = []
    install(phases.append, monkeypatch.setattr)
    settings = fake_run_settings(exactly_once=exactly_once, commit_interval=0)
    metrics = Metrics(CollectorRegistry())
    publisher = service.build_publisher(settings, service.build_producer(settings), metrics)
    consumer = service.build_consumer(settings)
    checkpoint = service.build_checkpoint(settings, consumer, publisher, metrics)
    loop = ScoringLoop(consumer, publisher, checkpoint, FakeDetector(), "m", metrics, settings)
    loop.run(stopping=lambda: not source.batches)
    return phases


def test_at_least_once_passes_each_phase_once_per_batch(monkeypatch):
    source = FakeSource([BATCH, [], [message(b'{"a": 0, "b": 0, "c": 0}', 2)]])
    phases = run_service(monkeypatch, False, source, FakeTransactions(source.events))
    assert phases == ONE_BATCH * 2  # the empty batch passes none
    assert source.events.index("flush") < source.events.index("commit")


def test_a_commit_that_raises_passes_before_commit_but_not_after(monkeypatch):
    source = FakeSource([BATCH])
    source.fail_commits = 1
    phases = run_service(monkeypatch, False, source, FakeTransactions(source.events))
    # The commit on revoke (closing) tries again, and succeeds.
    assert phases == ["after_consume", "after_produce", "before_commit", *ONE_BATCH[2:]]
    assert source.commits == [{("in", 0): 2}]


def test_exactly_once_commits_the_transaction_between_the_commit_phases(monkeypatch):
    source = FakeGroupSource([BATCH])
    producer = FakeTransactions(source.events)
    phases = run_service(monkeypatch, True, source, producer)
    assert phases == ONE_BATCH
    assert [e for e in producer.events if e in {"send_offsets", "commit_txn"}] == [
        "send_offsets",
        "commit_txn",
    ]


def test_a_retried_transaction_commit_is_one_commit(monkeypatch):
    source = FakeGroupSource([BATCH])
    retriable = KafkaError(KafkaError._TIMED_OUT, "slow", retriable=True)
    producer = FakeTransactions(source.events, errors={"commit_txn": [retriable]})
    monkeypatch.setattr("consumer.retry.RETRY_WAIT_S", 0)
    phases = run_service(monkeypatch, True, source, producer)
    assert producer.events.count("commit_txn") == 2
    assert phases == ONE_BATCH


def test_the_hook_kills_at_the_nth_pass_of_its_phase_only():
    kills: list[str] = []
    hook = crash_point({ENV: "after_produce:2:stop"}, kill=lambda: kills.append("stop"))
    for phase in ONE_BATCH * 3:
        hook(phase)
    assert kills == ["stop"]
    crash_point({})("after_consume")  # no spec: never fires


@pytest.mark.parametrize("spec", ["after_lunch", "after_consume:x", "before_commit:1:pause"])
def test_a_bad_spec_is_one_clear_sentence(spec):
    with pytest.raises(ValueError, match=r"use PHASE\[:N\[:kill\|stop\]\] with PHASE one of"):
        crash_point({ENV: spec})
