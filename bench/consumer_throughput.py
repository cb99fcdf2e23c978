"""Benchmark (not a test): one consumer process end to end vs. raw consumption of the same topic.

    scripts/kafka-local start --dir /tmp/kafka-bench          # prints 127.0.0.1:PORT
    .venv/bin/python bench/consumer_throughput.py --bootstrap-servers 127.0.0.1:PORT \\
        [--messages 200000] [--partitions 4] [--model-dir BUNDLE]

Fills a fresh topic with ULB-shaped JSON transactions, then measures (1) a bare confluent-kafka
consumer doing no work, (2) `python -m consumer run` scoring the topic, from its first scored
message until its committed offsets reach the end. Prints both rates and their ratio.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--model-dir", type=Path, help="bundle to score with (default: train one)")
    args = parser.parse_args()
    bootstrap = args.bootstrap_servers
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        model_dir = args.model_dir or train_tiny_bundle(Path(tmp))
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        create_topics(
            bootstrap, [(topic, args.partitions), (topic + "-alerts", 1), (topic + "-dlq", 1)]
        )
        size = fill(bootstrap, topic, args.messages)
        print(
            f"topic {topic}: {args.messages} messages, {args.partitions} partitions, "
            f"{size / args.messages:.0f} bytes each"
        )
        raw = raw_rate(bootstrap, topic, args.messages)
        print(f"raw consume (no work):        {raw:>10,.0f} msg/s")
        scored = end_to_end_rate(
            bootstrap, topic, args.partitions, args.messages, model_dir, Path(tmp)
        )
        print(f"end to end (one consumer):    {scored:>10,.0f} msg/s")
        print(f"ratio end to end / raw:       {scored / raw:>10.2f}")
    return 0


def train_tiny_bundle(root: Path) -> Path:
    data, model = root / "train.csv", root / "model"
    py = [sys.executable, "-m", "training"]
    subprocess.run(
        [*py, "synth", "--rows", "5000", "--out", str(data), "--fraud-rate", "0.01"],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    subprocess.run(
        [
            *py,
            "fit",
            "--data",
            str(data),
            "--model-dir",
            str(model),
            "--epochs",
            "3",
            "--patience",
            "0",
            "--ensemble",
            "1",
        ],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    return model


def create_topics(bootstrap: str, topics: list[tuple[str, int]]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(name, num_partitions=n, replication_factor=1) for name, n in topics]
    for future in admin.create_topics(new).values():
        future.result(30)
    time.sleep(1)


def fill(bootstrap: str, topic: str, count: int) -> int:
    """Produce `count` ULB-shaped JSON transactions; return the total bytes."""
    from training.synth import synthesize

    rows = synthesize(count, 0.002, seed=42).drop(columns=["Class"]).to_dict("records")
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "queue.buffering.max.messages": 2_000_000,
            "compression.type": "lz4",
        }
    )
    size = 0
    now = time.time()
    for i, row in enumerate(rows):
        row["transaction_id"] = f"bench-{i}"
        row["event_time"] = now
        value = orjson.dumps(row)
        size += len(value)
        while True:
            try:
                producer.produce(topic, value, row["transaction_id"].encode())
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(120) == 0
    return size


def raw_rate(bootstrap: str, topic: str, count: int) -> float:
    """Messages per second of a consumer that does nothing with them (first to last message)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"raw-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.max.bytes": 64 * 1024 * 1024,
        }
    )
    consumer.subscribe([topic])
    received, first, started = 0, 0, 0.0
    try:
        while received < count:
            batch = consumer.consume(1000, 1.0)
            received += sum(1 for m in batch if m.error() is None)
            if batch and not first:  # time from the first batch on, not counting it
                started, first = time.perf_counter(), received
    finally:
        consumer.close()
    return (received - first) / (time.perf_counter() - started)


def end_to_end_rate(
    bootstrap: str, topic: str, partitions: int, count: int, model_dir: Path, tmp: Path
) -> float:
    """Messages per second of `python -m consumer run`, first scored message to last commit."""
    port = 19400 + os.getpid() % 500
    group = f"e2e-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "FRAUD_LOG_LEVEL": "warning"}
    log = open(tmp / "consumer.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "consumer",
            "run",
            "--bootstrap-servers",
            bootstrap,
            "--model-dir",
            str(model_dir),
            "--input-topic",
            topic,
            "--alert-topic",
            topic + "-alerts",
            "--dlq-topic",
            topic + "-dlq",
            "--group-id",
            group,
            "--metrics-host",
            "127.0.0.1",
            "--metrics-port",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    checker = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    started = first = None
    try:
        while True:
            assert process.poll() is None, (tmp / "consumer.log").read_text()
            if started is None:
                scored = scored_total(port)
                if scored:
                    started, first = time.perf_counter(), scored
            else:
                done = sum(max(tp.offset, 0) for tp in checker.committed(tps, timeout=10))
                if done >= count:
                    elapsed = time.perf_counter() - started
                    break
            time.sleep(0.05)
    finally:
        checker.close()
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        log.close()
    return (count - first) / elapsed


def scored_total(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            body = response.read().decode()
    except OSError:
        return 0.0
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "fraud_transactions_scored_total":
                return sample.value
    return 0.0


if __name__ == "__main__":
    sys.exit(main())
