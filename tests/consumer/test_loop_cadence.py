"""When the loop scores: what is fetched at once, never waiting to fill a batch."""

from __future__ import annotations

from dataclasses import dataclass, field

from fakes import FakeDetector, FakeSink, FakeSource, fake_run_settings, message
from prometheus_client import CollectorRegistry

from consumer.checkpoint import AtLeastOnce
from consumer.loop import ACK_POLL_S, ScoringLoop
from consumer.metrics import Metrics
from consumer.publish import Publisher

GOOD = b'{"a": 1, "b": 1, "c": 1}'
FRAUD = b'{"a": 3, "b": 2, "c": 1}'


@dataclass
class RecordingSource(FakeSource):
    """A FakeSource that remembers each consume call's (num_messages, timeout)."""

    calls: list[tuple[int, float]] = field(default_factory=list)

    def consume(self, num_messages=1, timeout=-1):
        self.calls.append((num_messages, timeout))
        return super().consume(num_messages, timeout)


def build(batches):
    source = RecordingSource(batches)
    sink = FakeSink(source.events)
    settings = fake_run_settings(batch_size=500, batch_timeout=0.5, commit_interval=60)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    publisher = Publisher(sink, metrics, settings.alert_topic, settings.dlq_topic)
    checkpoint = AtLeastOnce(source, publisher, metrics, 60, settings.flush_timeout)
    loop = ScoringLoop(source, publisher, checkpoint, FakeDetector(), "m", metrics, settings)
    return loop, source, sink, registry


def scored(registry):
    return registry.get_sample_value("fraud_transactions_scored_total")


def test_messages_already_fetched_are_scored_without_waiting():
    loop, source, _, registry = build([[message(GOOD, 0), message(GOOD, 1)]])
    loop.step()
    assert source.calls == [(500, 0)]
    assert scored(registry) == 2


def test_with_nothing_fetched_it_waits_for_one_message_then_takes_what_else_arrived():
    loop, source, _, registry = build(
        [[], [message(GOOD, 0)], [message(GOOD, 1), message(GOOD, 2)]]
    )
    loop.step()
    assert source.calls == [(500, 0), (1, 0.5), (499, 0)]
    assert scored(registry) == 3


def test_while_records_await_acks_the_wait_is_short_so_callbacks_run_promptly():
    loop, source, sink, _ = build([[message(FRAUD, 0)], [], []])
    loop.step()  # publishes an alert that the fake broker has not acknowledged yet
    assert len(sink) == 1
    loop.step()
    assert source.calls[1:] == [(500, 0), (1, ACK_POLL_S)]
