"""Run `python -m consumer` as a real process against a real broker, and read what it wrote."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from confluent_kafka import (
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec
from kafka_helpers import REPO_ROOT
from prometheus_client.parser import text_string_to_metric_families

COORDINATOR_MOVING = (
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
)


class ScorerTopics(NamedTuple):
    """Fresh topics and a fresh group for one consumer test."""

    source: str
    alerts: str
    dlq: str
    scores: str
    group: str

    def settings(self, bootstrap: str, model_dir: Path, **extra: Any) -> dict[str, Any]:
        """Return ConsumerProcess settings that read `source` and write the other topics."""
        return dict(
            bootstrap_servers=bootstrap,
            model_dir=model_dir,
            input_topic=self.source,
            alert_topic=self.alerts,
            dlq_topic=self.dlq,
            scores_topic=self.scores,
            group_id=self.group,
            **extra,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The consumer's command line, killed or frozen at a named phase of a batch (see its docstring).
CRASHING_CONSUMER = REPO_ROOT / "tests" / "faults" / "crashing_consumer.py"


class ConsumerProcess:
    """`python -m consumer run` in a subprocess, configured through FRAUD_* variables.

    With `test_crash_point=PHASE[:N[:kill|stop]]` it is CRASHING_CONSUMER that runs, which
    kills (or freezes) the consumer the Nth time a batch passes PHASE.
    """

    def __init__(self, log_path: Path, **settings: str | int | float):
        self.port = free_port()
        env = {
            **os.environ,
            "FRAUD_METRICS_PORT": str(self.port),
            "FRAUD_METRICS_HOST": "127.0.0.1",
        }
        env.update({f"FRAUD_{k.upper()}": str(v) for k, v in settings.items()})
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed in wait)
        self.process = subprocess.Popen(
            [sys.executable, *self.command(settings)],
            cwd=REPO_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def command(self, settings: dict[str, str | int | float]) -> list[str]:
        """Return the interpreter's arguments: the consumer's `run`, crashing if asked."""
        entry = [str(CRASHING_CONSUMER)] if "test_crash_point" in settings else ["-m", "consumer"]
        return [*entry, "run"]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"consumer exited early:\n{self.logs()}")
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"consumer not ready after {timeout}s:\n{self.logs()}")

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        _, body = self.get("/metrics")
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body)
            for s in family.samples
        }

    def wait_started(self, timeout: float = 60) -> None:
        """Wait until the HTTP server answers: the stop signals' handlers are installed by then."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                self.get("/healthz")
                return
            except OSError:
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if sig in (signal.SIGTERM, signal.SIGINT):
            # A signal during interpreter start-up, before the handlers exist, kills at once.
            self.wait_started()
        self.process.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self.log.close()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ensure_stopped(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.wait()


def metric(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


def watermarks(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """Return each partition's high watermark (the offset after its last message)."""
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return {
            p: client.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
    finally:
        client.close()


def read_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 60) -> list[Record]:
    """Read every committed record now in the topic (up to the current high watermarks).

    Reads `read_committed` and stops on the consumer's position rather than the last record's
    offset: a transaction's commit marker takes the last offset and is never delivered.
    """
    ends = watermarks(bootstrap, topic, partitions)
    client = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    wanted = [TopicPartition(topic, p, 0) for p in range(partitions) if ends[p] > 0]
    client.assign(wanted)
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        while wanted:
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for m in client.consume(1000, 0.5):
                if m.error() is None:
                    headers = dict(m.headers() or [])
                    records.append(Record(m.partition(), m.offset(), m.key(), m.value(), headers))
            positions = client.position([TopicPartition(topic, tp.partition) for tp in wanted])
            wanted = [tp for tp in positions if tp.offset < ends[tp.partition]]
    finally:
        client.close()
    return records


def end_offsets(bootstrap: str, topic: str, partitions: int, committed: bool) -> dict[int, int]:
    """Return each partition's end offset, as a read_committed reader sees it if `committed`.

    The read_committed end (the last stable offset) stops before the first open transaction:
    it equals the plain end offset only when no transaction is left open.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    level = IsolationLevel.READ_COMMITTED if committed else IsolationLevel.READ_UNCOMMITTED
    request = {TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)}
    futures = admin.list_offsets(request, isolation_level=level, request_timeout=30)
    return {tp.partition: future.result().offset for tp, future in futures.items()}


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """Return the group's committed offset per partition (-1001 when none)."""
    client = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                tps = client.committed(
                    [TopicPartition(topic, p) for p in range(partitions)], timeout=10
                )
                return {tp.partition: tp.offset for tp in tps}
            except KafkaException as exc:  # coordinator still loading or moving: ask again
                # A local timeout too: a broker back a moment ago, or a group whose transaction
                # is still open (its offsets are unstable until it ends), answers only later.
                code = exc.args[0].code()
                moving = code in COORDINATOR_MOVING or code == KafkaError._TIMED_OUT
                if not (exc.args[0].retriable() or moving) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        client.close()


def wait_until_committed(
    bootstrap: str, group: str, topic: str, partitions: int, timeout: float = 120, *procs
) -> None:
    """Wait until the group's committed offsets reach the end of every partition."""
    ends = watermarks(bootstrap, topic, partitions)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if committed(bootstrap, group, topic, partitions) == ends:
            return
        for proc in procs:
            assert proc.process.poll() is None, f"consumer died:\n{proc.logs()}"
        time.sleep(0.5)
    raise AssertionError(
        f"committed {committed(bootstrap, group, topic, partitions)} never reached {ends}"
    )


def produce(bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes | None]]) -> None:
    """Produce (key, value) pairs and wait for every ack."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for key, value in items:
        producer.produce(topic, value=value, key=key)
    assert producer.flush(30) == 0


def replay(bootstrap: str, topic: str, data: Path, *extra: str) -> None:
    """Feed a CSV into the topic with `python -m consumer replay`."""
    process = start_replay(bootstrap, topic, data, *extra)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr.decode(errors="replace")


def start_replay(bootstrap: str, topic: str, data: Path, *extra: str) -> subprocess.Popen:
    """Start `python -m consumer replay` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "consumer", "replay", "--bootstrap-servers", bootstrap,
         "--topic", topic, "--data", str(data), "--no-progress", *extra],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def transactions(n: int, seed: int = 3, prefix: str = "tx") -> list[tuple[bytes, bytes]]:
    """Return n (key, JSON value) pairs, the key being the value's transaction_id."""
    from training.datasets.synth import synthesize

    frame = synthesize(n, 0.02, seed=seed).drop(columns=["Time", "Class"])
    items = []
    for i, row in enumerate(frame.to_dict("records")):
        tid = f"{prefix}-{i}"
        items.append((tid.encode(), orjson.dumps({**row, "transaction_id": tid})))
    return items


def feed(bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes | None]]) -> None:
    """Produce keyed records (spread over partitions by key) and wait for every ack."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20})
    for key, value in items:
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0
