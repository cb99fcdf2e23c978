"""Helpers for integration tests that talk to a real Kafka broker."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_LOCAL = REPO_ROOT / "scripts" / "kafka-local"


def kafka_local(*args: str, timeout: float = 600) -> str:
    """Run ``scripts/kafka-local`` and return its stdout (stderr passes through)."""
    result = subprocess.run(
        [sys.executable, str(KAFKA_LOCAL), *args],
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=True,
    )
    return result.stdout.strip()


def can_run_local_broker() -> bool:
    """A JDK plus either ``mvn`` or ``KAFKA_HOME`` is enough for ``kafka-local``."""
    has_jars = bool(os.environ.get("KAFKA_HOME")) or shutil.which("mvn") is not None
    return shutil.which("java") is not None and has_jars


def docker_available(timeout: float = 3.0) -> bool:
    """True if a Docker engine answers a ping quickly; never raises."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def unique_topic_name(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_topic(bootstrap: str, name: str, partitions: int = 1, timeout: float = 30.0) -> None:
    """Create ``name`` and wait until every partition has a leader."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1)],
        operation_timeout=timeout,
    )
    futures[name].result(timeout=timeout)
    wait_for_topic(admin, name, partitions, timeout)


def wait_for_topic(admin: AdminClient, name: str, partitions: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topic = admin.list_topics(topic=name, timeout=5).topics.get(name)
        if (
            topic is not None
            and topic.error is None
            and len(topic.partitions) == partitions
            and all(p.leader >= 0 for p in topic.partitions.values())
        ):
            return
        time.sleep(0.2)
    raise TimeoutError(f"topic {name!r} not ready with {partitions} partitions after {timeout}s")


def delete_topics(bootstrap: str, names: list[str], timeout: float = 10.0) -> None:
    """Best-effort cleanup; errors are ignored."""
    if not names:
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(names, operation_timeout=timeout).values():
        with contextlib.suppress(Exception):
            future.result(timeout=timeout)
