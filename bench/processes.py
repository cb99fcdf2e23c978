"""Run `python -m consumer run` as a real process and watch it: readiness, metrics, CPU, memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.kafka import REPO

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Watched:
    """One `python -m consumer COMMAND` process, logging to `log_path`, with metrics on a free
    port: readiness, metrics, CPU and memory read from outside."""

    def __init__(self, command: str, args: Sequence[str], log_path: Path):
        self.port = free_port()
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.log_path = log_path
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "consumer", command, *args, "--metrics-host", "127.0.0.1",
             "--metrics-port", str(self.port), "--log-level", "warning"],
            cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""
        except OSError:
            return 0, ""

    def wait_ready(self, timeout: float = 120) -> float:
        """Wait until /readyz answers 200; return the seconds since the process started."""
        while time.monotonic() - self.started < timeout:
            self.check_alive()
            if self.get("/readyz")[0] == 200:
                return time.monotonic() - self.started
            time.sleep(0.01)
        raise RuntimeError(f"consumer not ready after {timeout:g} s: see {self.log_path}")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"consumer exited with {self.process.returncode}: {self.log_path}")

    def metrics(self) -> Samples:
        _, body = self.get("/metrics")
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body)
            for s in family.samples
        }

    def counter(self, name: str) -> float:
        return self.metrics().get((name, ()), 0.0)

    def scored(self) -> float:
        return self.counter("fraud_transactions_scored_total")

    def cpu_seconds(self) -> float:
        """Return the CPU time (user + system) the process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def peak_rss(self) -> int:
        """Return the process's peak resident memory in bytes (Linux /proc VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> int:
        """Stop with SIGTERM (kill after 60 s); return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
        finally:
            self.log.close()


class Scorer(Watched):
    """One `python -m consumer run` process with default settings (`extra` adds options)."""

    def __init__(
        self,
        bootstrap: str,
        model_dir: Path,
        topic: str,
        group: str,
        log_path: Path,
        extra: Sequence[str] = (),
    ):
        args = [
            "--bootstrap-servers", bootstrap, "--model-dir", str(model_dir),
            "--input-topic", topic, "--alert-topic", f"{topic}-alerts",
            "--dlq-topic", f"{topic}-dlq", "--group-id", group, *extra,
        ]  # fmt: skip
        super().__init__("run", args, log_path)


@dataclass(frozen=True)
class Measured:
    """A finished command: wall seconds, peak resident bytes, CPU seconds."""

    wall: float
    peak_rss: int
    cpu: float


def run_measured(command: list[str], log_path: Path) -> Measured:
    """Run a command to completion, measuring that process alone (os.wait4)."""
    started = time.perf_counter()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}... failed: see {log_path}")
    return Measured(wall, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime)
