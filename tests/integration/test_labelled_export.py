"""`python -m consumer labelled` against a real broker: a CSV the next `fit` reads."""

from __future__ import annotations

import csv
import subprocess
import sys
import time

import orjson
import pytest
from feedback_helpers import producer, send, verdict_value
from kafka_helpers import REPO_ROOT

from training.datasets.dataset import read_labelled

DAY = 86400.0


def transaction(tx: str, age_days: float, v1: float, now: float) -> tuple[bytes, bytes]:
    value = {"transaction_id": tx, "V1": v1, "V2": -v1, "Amount": 10 * v1, "Class": 1,
             "event_time": now - age_days * DAY}  # fmt: skip
    return tx.encode(), orjson.dumps(value)


@pytest.mark.slow
def test_transactions_joined_with_their_latest_verdict_and_matured_ones_as_legitimate(
    kafka_bootstrap, topic_factory, tmp_path
):
    transactions, labels = topic_factory(partitions=2), topic_factory(partitions=2)
    now = time.time()
    old = [transaction(f"old-{i}", 40, float(i), now) for i in range(30)]
    young = [transaction(f"young-{i}", 1, 100.0 + i, now) for i in range(10)]
    client = producer(kafka_bootstrap)
    send(client, transactions, old + young + old[:3])  # three repeated transactions
    send(client, transactions, [(b"junk", b"not json")])
    send(client, labels, [(b"old-0", verdict_value("old-0", True, "chargeback"))])
    send(client, labels, [(b"old-1", verdict_value("old-1", False))])
    send(client, labels, [(b"old-1", verdict_value("old-1", True, "chargeback"))])  # later: fraud
    send(client, labels, [(b"old-2", verdict_value("old-2", True))])
    send(client, labels, [(b"old-2", verdict_value("old-2", False))])  # later: cleared
    send(client, labels, [(b"young-0", verdict_value("young-0", True))])
    send(client, labels, [(b"young-1", verdict_value("young-1", False))])
    send(client, labels, [(b"elsewhere", verdict_value("elsewhere", True)), (b"x", b"{")])
    out = tmp_path / "train.csv"
    argv = [
        "--bootstrap-servers", kafka_bootstrap, "--transactions-topic", transactions,
        "--labels-topic", labels, "--out", str(out), "--maturity", "30d",
    ]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "consumer", "labelled", *argv],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f"wrote 32 rows to {out}: 3 frauds and 2 legitimate by their verdict, 27 legitimate "
        "without a verdict past the maturity;"
    )
    assert "left out 8 younger without a verdict, 1 unreadable, 3 repeated" in result.stdout
    assert "; 1 transactions with a verdict not found in the transactions topic" in result.stdout

    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["V1", "V2", "Amount", "Class"]  # no id, time or label of input
    label = {float(row["V1"]): int(row["Class"]) for row in rows}
    assert label[0.0] == 1 and label[1.0] == 1 and label[2.0] == 0  # latest verdict wins
    assert label[100.0] == 1 and label[101.0] == 0  # young, but with a verdict
    assert sum(label.values()) == 3 and len(label) == 32
    dataset, labels_read = read_labelled(out)
    assert dataset.feature_names == ("V1", "V2", "Amount") and labels_read.sum() == 3


@pytest.mark.slow
def test_nothing_to_write_is_one_sentence(kafka_bootstrap, topic_factory, tmp_path):
    transactions, labels = topic_factory(), topic_factory()
    send(producer(kafka_bootstrap), transactions, [transaction("new", 0, 1.0, time.time())])
    argv = [
        "--bootstrap-servers", kafka_bootstrap, "--transactions-topic", transactions,
        "--labels-topic", labels, "--out", str(tmp_path / "x.csv"),
    ]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "consumer", "labelled", *argv],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: no row to write: 1 transactions without a verdict are younger than the "
        "maturity, 0 do not read"
    )
    assert not (tmp_path / "x.csv").exists()
