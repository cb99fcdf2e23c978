"""replay and alerts against fakes: ids, pacing, limits, readable output."""

from __future__ import annotations

import io

import orjson
import pandas as pd
import pytest
from fakes import FakeSink, FakeSource, message

from consumer.config import KafkaSettings, ReplaySettings
from consumer.errors import DeliveryError
from consumer.follow import follow
from consumer.replay import Pacer, replay


def test_replay_sends_each_row_as_json_keyed_by_transaction_id(tmp_path):
    data = tmp_path / "tx.csv"
    pd.DataFrame({"V1": [0.5, -1.25, 2.0], "Amount": [10.0, 0.0, 3.5], "Class": [0, 1, 0]}).to_csv(
        data, index=False
    )
    sink = FakeSink([])
    settings = ReplaySettings(KafkaSettings("b:1"), "in", data, limit=5, loop=True, progress=False)
    assert replay(settings, sink, clock=lambda: 1700000000.0) == 5
    assert [r.key for r in sink.delivered] == [b"tx-0", b"tx-1", b"tx-2", b"tx-0-r2", b"tx-1-r2"]
    first = orjson.loads(sink.delivered[1].value)
    assert first == {
        "V1": -1.25,
        "Amount": 0.0,
        "Class": 1,
        "transaction_id": "tx-1",
        "event_time": 1700000000.0,
    }


class QueueFullOnce(FakeSink):
    """Refuses the first record as a full local queue does, counting the polls that drain it."""

    polls: int = 0

    def produce(self, *args, **kwargs) -> None:
        if not self.polls:
            raise BufferError("Local: Queue full")
        super().produce(*args, **kwargs)

    def poll(self, timeout: float = -1) -> int:
        self.polls += 1
        return 0


def test_replay_retries_a_full_queue_and_reports_failed_deliveries(tmp_path):
    data = tmp_path / "tx.csv"
    pd.DataFrame({"V1": [0.5, 1.0]}).to_csv(data, index=False)
    settings = ReplaySettings(KafkaSettings("b:1"), "in", data, progress=False)
    sink = QueueFullOnce([])
    assert replay(settings, sink) == 2
    assert [r.key for r in sink.delivered] == [b"tx-0", b"tx-1"]
    with pytest.raises(DeliveryError, match="2 of 2 messages not delivered, first: in: "):
        replay(settings, FakeSink([], fail="in"))


def test_pacer_sleeps_to_keep_the_rate():
    now = [0.0]
    slept = []
    pacer = Pacer(10.0, clock=lambda: now[0], sleep=slept.append)
    pacer.wait(0)
    pacer.wait(5)
    assert slept == [0.5]
    assert Pacer(None, clock=lambda: 0.0, sleep=slept.append).wait(100) is None and slept == [0.5]


def test_follow_prints_alerts_until_the_limit():
    alert = orjson.dumps(
        {
            "transaction_id": "t-1",
            "score": 5.0,
            "threshold": 1.0,
            "model_version": "m",
            "scored_at": "2024-01-01T00:00:00.000Z",
            "top_features": [],
        }
    )
    source = FakeSource(
        [
            [
                message(alert, 0, topic="al"),
                message(b"junk", 1, topic="al"),
                message(alert, 2, topic="al"),
            ]
        ]
    )
    out = io.StringIO()
    printed = follow(source, "al", out, lambda: False, limit=2)
    assert printed == 2
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("2024-01-01T00:00:00.000Z  t-1  score 5 > 1")
    assert lines[1] == "(unreadable) b'junk'"
    assert source.closed
