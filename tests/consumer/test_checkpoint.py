"""The two delivery guarantees against fakes: what is committed, aborted, retried or fatal."""

from __future__ import annotations

import numpy as np
import pytest
from confluent_kafka import KafkaError, Message, TopicPartition
from fakes import FakeClock, FakeGroupSource, FakeSink, FakeSource, FakeTransactions, message
from prometheus_client import CollectorRegistry

from consumer.checkpoint import AtLeastOnce
from consumer.errors import FencedError, KafkaClientError, ProduceRefused
from consumer.metrics import Metrics
from consumer.publish import Publisher, TransactionalPublisher
from consumer.records import Outputs, OutRecord
from consumer.transaction import MAX_REPLACEMENTS, STUCK_AFTER_CALLS, ExactlyOnce

CALL_TIMEOUT_S = 5.0  # what each transactional call is given (flush-timeout)


def exactly_once(clock: FakeClock | None = None, **errors: list[KafkaError]):
    """Return exactly-once delivery over fakes, its source, producer and metrics registry.

    Without a clock, time stands still and retries do not wait.
    """
    source = FakeGroupSource([])
    producer = FakeTransactions(source.events, errors=errors, clock=clock)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    publisher = TransactionalPublisher(producer, metrics, "alerts", "dlq")
    timing = {} if clock is None else {"monotonic": clock, "sleep": clock.sleep}
    checkpoint = ExactlyOnce(
        source, publisher, metrics, 0, CALL_TIMEOUT_S, **({"sleep": lambda _s: None} | timing)
    )
    checkpoint.start()
    return checkpoint, source, producer, registry


def batch(checkpoint, *offsets: int, partition: int = 0) -> None:
    checkpoint.begin()
    checkpoint.done([message(b"{}", o, partition) for o in offsets])


def outcome(registry, name: str) -> float | None:
    return registry.get_sample_value("fraud_offset_commits_total", {"outcome": name})


def test_a_transaction_holds_the_batch_and_its_offsets():
    checkpoint, source, producer, registry = exactly_once()
    batch(checkpoint, 4, 5)
    batch(checkpoint, 6)
    checkpoint.commit()
    assert producer.events == ["init", "begin", "send_offsets", "commit_txn"]
    assert producer.sent == [{("in", 0): 7}]
    assert source.commits == []  # the consumer never commits by itself
    assert outcome(registry, "ok") == 1


def test_an_abortable_error_aborts_and_rewinds_to_where_the_transaction_began():
    abortable = KafkaError(KafkaError._STATE, "must abort", txn_requires_abort=True)
    checkpoint, source, producer, registry = exactly_once(commit_txn=[abortable])
    batch(checkpoint, 10, 11)
    batch(checkpoint, 3, partition=1)
    checkpoint.commit()
    assert producer.events[-2:] == ["commit_txn", "abort"]
    assert sorted(source.seeks) == [("in", 0, 10), ("in", 1, 3)]
    assert outcome(registry, "aborted") == 1 and outcome(registry, "ok") is None
    batch(checkpoint, 10, 11)  # scored again, in a new transaction
    checkpoint.commit()
    assert producer.events[-3:] == ["begin", "send_offsets", "commit_txn"]
    assert producer.sent[-1] == {("in", 0): 12}


def test_a_rewind_goes_to_the_offsets_the_group_committed_where_it_has_some():
    abortable = KafkaError(KafkaError._STATE, "must abort", txn_requires_abort=True)
    checkpoint, source, _, _ = exactly_once(commit_txn=[abortable])
    source.group_offsets = {("in", 0): 12}  # the broker completed that commit after all
    batch(checkpoint, 10, 11)
    batch(checkpoint, 3, partition=1)
    checkpoint.commit()
    assert sorted(source.seeks) == [("in", 0, 12), ("in", 1, 3)]


def test_a_rewind_goes_to_where_the_transaction_began_when_the_group_cannot_answer():
    abortable = KafkaError(KafkaError._STATE, "must abort", txn_requires_abort=True)
    checkpoint, source, _, _ = exactly_once(commit_txn=[abortable])
    source.group_offsets = {("in", 0): 12}
    source.unanswered = True
    batch(checkpoint, 10, 11)
    checkpoint.commit()
    assert source.seeks == [("in", 0, 10)]


def test_a_refused_produce_aborts_and_rewinds_to_the_batch_start():
    checkpoint, source, producer, registry = exactly_once()
    batch(checkpoint, 4, 5)
    checkpoint.begin()
    refused_batch = [message(b"{}", 6), message(b"{}", 2, partition=1)]
    checkpoint.refused(refused_batch, ProduceRefused("cannot produce to alerts: _STATE"))
    assert producer.events[-1] == "abort"
    assert sorted(source.seeks) == [("in", 0, 4), ("in", 1, 2)]  # its own and earlier batches
    assert outcome(registry, "aborted") == 1
    batch(checkpoint, 4, 5, 6)
    checkpoint.commit()
    assert producer.events[-3:] == ["begin", "send_offsets", "commit_txn"]
    assert producer.sent == [{("in", 0): 7}]


def test_at_least_once_stops_on_a_refused_produce():
    source = FakeSource([])
    metrics = Metrics(CollectorRegistry())
    publisher = Publisher(FakeSink(source.events), metrics, "alerts", "dlq")
    checkpoint = AtLeastOnce(source, publisher, metrics, 0, 1)
    with pytest.raises(ProduceRefused, match="_STATE"):
        checkpoint.refused([message(b"{}", 0)], ProduceRefused("cannot produce: _STATE"))
    assert source.commits == []


def test_a_retriable_error_is_retried():
    retriable = KafkaError(KafkaError._TIMED_OUT, "slow", retriable=True)
    checkpoint, _, producer, registry = exactly_once(commit_txn=[retriable, retriable])
    batch(checkpoint, 0)
    checkpoint.commit()
    assert producer.events.count("commit_txn") == 3
    assert outcome(registry, "ok") == 1


def test_a_fenced_producer_stops_with_a_clear_message():
    fenced = KafkaError(KafkaError._FENCED, "fenced by a newer instance", fatal=True)
    checkpoint, _, producer, _ = exactly_once(send_offsets=[fenced])
    batch(checkpoint, 0)
    with pytest.raises(FencedError, match="producer was fenced"):
        checkpoint.commit()
    assert "commit_txn" not in producer.events


def publishes_to(publisher, producer) -> bool:
    """Tell whether `publisher` hands its records to `producer`."""
    before = len(producer.in_flight)
    publisher.publish(Outputs([OutRecord(b"k", b"alert", 0)], []), np.array([0.0]))
    return len(producer.in_flight) == before + 1


def assert_replaced_and_rewound(checkpoint, source, fresh, registry) -> None:
    """`fresh` took the old producer's place, fencing it; offsets 7-8 are scored again in it."""
    assert publishes_to(checkpoint.publisher, fresh)
    assert fresh.events[-1] == "init"  # fences the old one, aborting its transaction
    assert source.seeks == [("in", 0, 7)]
    assert outcome(registry, "aborted") == 1
    batch(checkpoint, 7, 8)
    checkpoint.commit()
    assert fresh.sent == [{("in", 0): 9}]


def test_another_fatal_error_replaces_the_producer_and_rewinds():
    fatal = KafkaError(KafkaError._INCONSISTENT, "broken", fatal=True)
    checkpoint, source, unusable, registry = exactly_once(commit_txn=[fatal])
    fresh = FakeTransactions(source.events)
    checkpoint.new_producer = lambda: fresh
    batch(checkpoint, 7, 8)
    checkpoint.commit()
    assert "abort" not in unusable.events  # an unusable producer is not called again
    assert_replaced_and_rewound(checkpoint, source, fresh, registry)


def test_a_fatal_error_in_an_abort_replaces_the_producer_too():
    abortable = KafkaError(KafkaError._STATE, "must abort", txn_requires_abort=True)
    invalid = KafkaError(KafkaError.INVALID_TXN_STATE, "invalid state", fatal=True)
    checkpoint, source, _, _ = exactly_once(commit_txn=[abortable], abort=[invalid])
    fresh = FakeTransactions(source.events)
    checkpoint.new_producer = lambda: fresh
    batch(checkpoint, 3)
    checkpoint.commit()
    assert publishes_to(checkpoint.publisher, fresh) and fresh.events[-1] == "init"
    assert source.seeks == [("in", 0, 3)]


# What librdkafka 2.16 returned when a single broker's controlled shutdown answered a metadata
# request with no broker at all: the producer forgot its only broker and never connected again
# (its requests wait in the TxnCoordinator's queue), so a timed-out call, which librdkafka says
# may be resumed, times out for good.
OFFSETS_TIMED_OUT = KafkaError(
    KafkaError._TIMED_OUT,
    "Failed to add offsets to transaction on broker TxnCoordinator: Local: Timed out",
    retriable=True,
)
RESUME = KafkaError(
    KafkaError._TIMED_OUT,
    "Timed out waiting for operation to finish, retry call to resume",
    retriable=True,
)


def test_an_abort_that_keeps_timing_out_replaces_the_producer_and_rewinds():
    clock = FakeClock()
    checkpoint, source, wedged, registry = exactly_once(
        clock, send_offsets=[OFFSETS_TIMED_OUT], abort=[RESUME] * 1000
    )
    fresh = FakeTransactions(source.events)
    checkpoint.new_producer = lambda: fresh
    batch(checkpoint, 7, 8)
    checkpoint.commit()  # the offsets time out: abort, resumed while it times out, then replace
    assert wedged.events.count("abort") == STUCK_AFTER_CALLS  # not for RETRY_FOR_S
    assert_replaced_and_rewound(checkpoint, source, fresh, registry)


def test_a_commit_that_keeps_timing_out_replaces_the_producer_and_asks_where_to_rewind():
    clock = FakeClock()
    checkpoint, source, wedged, registry = exactly_once(clock, commit_txn=[RESUME] * 1000)
    fresh = FakeTransactions(source.events)
    checkpoint.new_producer = lambda: fresh
    source.group_offsets[("in", 0)] = 9  # the commit went through after all
    batch(checkpoint, 7, 8)
    checkpoint.commit()
    assert wedged.events.count("commit_txn") == STUCK_AFTER_CALLS
    assert "abort" not in wedged.events  # nothing to resume on a stuck producer
    assert publishes_to(checkpoint.publisher, fresh) and fresh.events[-1] == "init"
    assert source.seeks == [("in", 0, 9)]  # not scored again
    assert outcome(registry, "aborted") == 1


def test_another_fatal_error_stops_without_a_replacement_or_after_too_many():
    fatal = KafkaError(KafkaError._INCONSISTENT, "broken", fatal=True)
    checkpoint, _, _, _ = exactly_once(commit_txn=[fatal])
    batch(checkpoint, 0)
    with pytest.raises(KafkaClientError, match="cannot go on: commit_transaction: broken"):
        checkpoint.commit()

    checkpoint, source, _, _ = exactly_once(commit_txn=[fatal])
    checkpoint.new_producer = lambda: FakeTransactions(
        source.events, errors={"commit_txn": [fatal]}
    )
    with pytest.raises(KafkaClientError, match="cannot go on"):
        for _ in range(MAX_REPLACEMENTS + 1):
            batch(checkpoint, 0)
            checkpoint.commit()
    assert checkpoint.replacements == MAX_REPLACEMENTS


def test_revoke_commits_and_lost_aborts():
    checkpoint, source, producer, _ = exactly_once()
    batch(checkpoint, 0)
    checkpoint.revoke([TopicPartition("in", 0)])
    assert producer.events[-1] == "commit_txn"
    batch(checkpoint, 5, partition=1)
    checkpoint.lose([TopicPartition("in", 1)])
    assert producer.events[-1] == "abort"
    assert producer.sent == [{("in", 0): 1}]


def test_at_least_once_defers_the_commit_while_records_are_unacknowledged():
    source = FakeSource([])
    sink = FakeSink(source.events, stuck=True)
    metrics = Metrics(CollectorRegistry())
    publisher = Publisher(sink, metrics, "alerts", "dlq")
    checkpoint = AtLeastOnce(source, publisher, metrics, 0, 1)
    publisher.publish(Outputs([OutRecord(b"k", b"alert", 0)], []), np.array([0.0]))
    checkpoint.done([message(b"{}", 0)])
    checkpoint.commit()  # the broker may be restarting: wait for the next interval
    assert source.commits == []
    sink.stuck = False
    checkpoint.commit()
    assert source.commits == [{("in", 0): 1}]


def test_a_producer_stuck_in_send_offsets_is_replaced_and_the_batch_rewound(monkeypatch):
    import threading

    from consumer import retry as module

    monkeypatch.setattr(module, "STUCK_GRACE_S", 0.05)
    release = threading.Event()
    checkpoint, source, stuck, registry = exactly_once()
    stuck.send_offsets_to_transaction = lambda *args: release.wait(10)
    fresh = FakeTransactions(source.events)
    checkpoint.new_producer = lambda: fresh
    checkpoint.timeout = 0.05
    batch(checkpoint, 7, 8)
    checkpoint.commit()
    release.set()
    assert_replaced_and_rewound(checkpoint, source, fresh, registry)


def test_at_least_once_commits_the_acknowledged_batches_in_order_without_waiting():
    source = FakeSource([])
    timeouts: list[float] = []

    class Acking(FakeSink):
        def flush(self, timeout: float = -1) -> int:  # the broker acks only what `ack` says
            timeouts.append(timeout)
            return len([r for r in self.in_flight if r is not None])

        def ack(self, i: int) -> None:
            record, callback = self.in_flight[i]
            callback(None, Message(topic=record.topic, value=record.value))
            self.in_flight[i] = None

    sink = Acking(source.events)
    metrics = Metrics(CollectorRegistry())
    publisher = Publisher(sink, metrics, "alerts", "dlq", "scores")
    checkpoint = AtLeastOnce(source, publisher, metrics, 0, 30)
    for offset in (0, 1, 2):
        publisher.publish(Outputs([], [OutRecord(b"k", b"score", 0)]), np.array([0.0]))
        checkpoint.done([message(b"{}", offset)])
    sink.ack(0)
    sink.ack(2)  # a later batch acknowledged before the one before it
    checkpoint.commit()
    assert source.commits == [{("in", 0): 1}]  # the second batch still waits, so the third too
    assert timeouts == [0]  # nothing waited for
    sink.ack(1)
    checkpoint.commit()
    assert source.commits == [{("in", 0): 1}, {("in", 0): 3}]
