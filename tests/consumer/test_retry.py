"""Transactional calls as librdkafka classifies their errors: retried, aborted, fatal, stuck."""

from __future__ import annotations

import threading

import pytest
from confluent_kafka import KafkaError, KafkaException

from consumer import retry
from consumer.errors import FencedError, KafkaClientError
from consumer.retry import (
    RETRY_FOR_S,
    RETRY_WAIT_S,
    AbortNeededError,
    CallStuckError,
    ProducerUnusableError,
    TransactionCalls,
    run_bounded,
)

RETRIABLE = KafkaError(KafkaError._TIMED_OUT, "slow", retriable=True)


def failing(*errors: KafkaError):
    """A call that raises each error once, in order, then succeeds; it counts its calls."""
    calls = []

    def call() -> None:
        calls.append(1)
        if len(calls) <= len(errors):
            raise KafkaException(errors[len(calls) - 1])

    return call, calls


class Clock:
    """A monotonic clock that each sleep moves forward."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_retriable_error_is_retried_after_a_wait():
    clock = Clock()
    call, calls = failing(RETRIABLE, RETRIABLE)
    TransactionCalls(clock, clock.sleep).run("commit_transaction", call)
    assert len(calls) == 3 and clock.slept == [RETRY_WAIT_S, RETRY_WAIT_S]


def test_a_retriable_error_stops_being_retried_after_the_deadline():
    clock = Clock()
    call, calls = failing(*[RETRIABLE] * 10_000)
    with pytest.raises(KafkaClientError, match="^Kafka commit_transaction failed: slow$"):
        TransactionCalls(clock, clock.sleep).run("commit_transaction", call)
    assert len(calls) == RETRY_FOR_S / RETRY_WAIT_S + 2  # the deadline is passed, not reached


def test_a_retriable_error_past_stuck_after_takes_the_producer_for_stuck():
    clock = Clock()
    call, calls = failing(*[RETRIABLE] * 10_000)
    with pytest.raises(CallStuckError, match="^abort_transaction still failing after 11s: slow$"):
        TransactionCalls(clock, clock.sleep).run("abort_transaction", call, stuck_after=10.5)
    assert len(calls) == 10.5 / RETRY_WAIT_S + 2  # long before RETRY_FOR_S


def test_without_retry_a_retriable_error_asks_for_an_abort():
    call, calls = failing(RETRIABLE)
    with pytest.raises(AbortNeededError, match="send_offsets_to_transaction: slow"):
        TransactionCalls(sleep=lambda _s: None).run("send_offsets_to_transaction", call, False)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (KafkaError(KafkaError._STATE, "abort", txn_requires_abort=True), AbortNeededError),
        (KafkaError(KafkaError._FENCED, "fenced", fatal=True), FencedError),
        (KafkaError(KafkaError._INCONSISTENT, "broken", fatal=True), ProducerUnusableError),
        (KafkaError(KafkaError._INVALID_ARG, "invalid"), KafkaClientError),
    ],
    ids=["abortable", "fenced", "fatal", "other"],
)
def test_errors_that_are_not_retriable_raise_as_classified(error, raised):
    call, calls = failing(error)
    with pytest.raises(raised):
        TransactionCalls(sleep=lambda _s: None).run("commit_transaction", call)
    assert len(calls) == 1


def test_a_call_that_does_not_return_in_time_is_given_up(monkeypatch):
    monkeypatch.setattr(retry, "STUCK_GRACE_S", 0.01)
    release = threading.Event()
    with pytest.raises(CallStuckError):
        run_bounded(lambda: release.wait(10), 0.01)
    release.set()
    call, _ = failing(RETRIABLE)
    with pytest.raises(KafkaException):  # the call's own error comes back from its thread
        run_bounded(call, 1)
