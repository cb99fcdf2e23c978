"""consumer.ready against a real broker, and against an address where nothing listens."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from consumer.ready import NotReadyError, wait_for_group_coordinator, wait_for_producer_id


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_the_command_returns_zero_once_the_broker_serves_producers_and_groups(kafka_bootstrap):
    result = subprocess.run(
        [sys.executable, "-m", "consumer.ready", "--bootstrap-servers", kafka_bootstrap],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == result.stderr == ""


def test_no_broker_means_no_producer_id_in_time():
    config = {"bootstrap.servers": f"127.0.0.1:{closed_port()}"}
    with pytest.raises(NotReadyError, match="no producer id"):
        wait_for_producer_id(config, timeout=1)


def test_no_broker_means_no_group_coordinator_in_time():
    config = {"bootstrap.servers": f"127.0.0.1:{closed_port()}", "socket.timeout.ms": 1000}
    with pytest.raises(NotReadyError):
        wait_for_group_coordinator(config, timeout=1)


def test_the_command_says_what_was_missing_and_exits_one():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "consumer.ready",
            "--bootstrap-servers",
            f"127.0.0.1:{closed_port()}",
            "--timeout",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: no producer id from the cluster after 1 s")
