"""Wait until a Kafka cluster serves idempotent producers and consumer groups.

A broker that has just started accepts connections before it can hand out producer ids or load
the group coordinator; clients then retry by themselves and librdkafka logs each retry as a
warning ("Coordinator load in progress"). Waiting here first keeps those retries out of a
healthy run's output. Nothing is produced and no group is joined.

    python -m consumer.ready --bootstrap-servers 127.0.0.1:9092 [--timeout 60]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from consumer.kafka import kafka_error

PROBE_GROUP = "fraudstream-ready-probe"
POLL_S = 0.1
# Kafka error names that mean "not yet": the coordinator is still starting or moving.
NOT_YET = frozenset(
    ("COORDINATOR_LOAD_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE", "NOT_COORDINATOR", "_TIMED_OUT")
)


class NotReadyError(Exception):
    """The cluster did not become ready in time; the message says which part was missing."""


def quiet_logger() -> logging.Logger:
    """Return a logger that swallows the probe clients' own retry warnings."""
    logger = logging.getLogger("fraudstream.ready.probe")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


def wait_for_producer_id(
    config: dict[str, Any], timeout: float, clock: Callable[[], float] = time.monotonic
) -> None:
    """Wait until an idempotent producer gets a producer id from the cluster.

    Raises:
        NotReadyError: no producer id within `timeout` seconds.
    """
    state: dict[str, str] = {}

    def on_stats(text: str) -> None:
        state["idempotence"] = orjson.loads(text).get("eos", {}).get("idemp_state", "")

    producer = Producer(
        {
            **config,
            "enable.idempotence": True,
            "statistics.interval.ms": 100,
            "stats_cb": on_stats,
            "error_cb": lambda error: None,
            "logger": quiet_logger(),
        }
    )
    deadline = clock() + timeout
    while state.get("idempotence") != "Assigned":
        if clock() > deadline:
            raise NotReadyError(
                f"no producer id from the cluster after {timeout:.0f} s "
                f"(idempotence state {state.get('idempotence', 'unknown')})"
            )
        producer.poll(POLL_S)


def wait_for_group_coordinator(
    config: dict[str, Any],
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait until the cluster answers a group description (its coordinator has loaded).

    Raises:
        NotReadyError: the coordinator was still unavailable after `timeout` seconds.
    """
    settings: dict[str, Any] = {**config, "logger": quiet_logger(), "error_cb": lambda e: None}
    admin = AdminClient(settings)
    deadline = clock() + timeout
    while True:
        future = admin.describe_consumer_groups(
            [PROBE_GROUP], request_timeout=max(1.0, min(5.0, timeout))
        )[PROBE_GROUP]
        try:
            future.result()
            return
        except KafkaException as exc:
            error = kafka_error(exc)
            name = error.name() if error is not None else "unknown"
            if name not in NOT_YET:
                raise NotReadyError(f"describing a consumer group failed: {exc}") from exc
            if clock() > deadline:
                raise NotReadyError(
                    f"group coordinator not available after {timeout:.0f} s ({name})"
                ) from exc
        sleep(POLL_S)


def wait_until_ready(config: dict[str, Any], timeout: float = 60.0) -> None:
    """Wait until the cluster serves idempotent producers and consumer groups.

    Raises:
        NotReadyError: either was not ready within `timeout` seconds (each).
    """
    wait_for_producer_id(config, timeout)
    wait_for_group_coordinator(config, timeout)


def main(argv: list[str] | None = None) -> int:
    """Wait for the cluster named on the command line; exit 1 when it is not ready in time."""
    parser = argparse.ArgumentParser(
        prog="python -m consumer.ready",
        description="Wait until Kafka serves idempotent producers and consumer groups.",
    )
    parser.add_argument("--bootstrap-servers", required=True, help="host:port[,...]")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per check (60)")
    args = parser.parse_args(argv)
    try:
        wait_until_ready({"bootstrap.servers": args.bootstrap_servers}, args.timeout)
    except NotReadyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
