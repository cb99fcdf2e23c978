"""Run scripts/prometheus-local for a test and read Prometheus back through its HTTP API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from monitoring_helpers import REPO_ROOT

PROMETHEUS_LOCAL = REPO_ROOT / "scripts" / "prometheus-local"


def prometheus_local(*args: str) -> str:
    """Run scripts/prometheus-local and return its stdout."""
    result = subprocess.run(
        [sys.executable, str(PROMETHEUS_LOCAL), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def api(url: str, path: str, **params: str) -> Any:
    """Return the `data` of a Prometheus HTTP API reply."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{url}/api/v1/{path}{query}", timeout=10) as response:
        reply = json.loads(response.read())
    assert reply["status"] == "success", reply
    return reply["data"]


def instant(url: str, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Return an instant query's result: value by sorted labels (without __name__)."""
    result = api(url, "query", query=expr)["result"]
    return {
        tuple(sorted((k, v) for k, v in r["metric"].items() if k != "__name__")): float(
            r["value"][1]
        )
        for r in result
    }


def scalar(url: str, expr: str) -> float | None:
    """Return the single value of an instant query, None when it returns no series."""
    values = list(instant(url, expr).values())
    assert len(values) <= 1, (expr, values)
    return values[0] if values else None


def wait_for_value(url: str, expr: str, expected: float, timeout: float = 60) -> None:
    """Wait until Prometheus' value of `expr` equals `expected` (scrapes land every second)."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = scalar(url, expr)
        if value == expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"{expr} is {value}, not {expected}, after {timeout}s")


class LocalPrometheus:
    """A real Prometheus scraping `targets` every second with deploy/prometheus/alerts.yml."""

    def __init__(self, root: Path, targets: list[str]):
        self.root = root
        args = ["start", "--dir", str(root), "--interval", "1s"]
        for target in targets:
            args += ["--target", target]
        self.url = prometheus_local(*args)

    def stop(self) -> None:
        prometheus_local("stop", "--dir", str(self.root))

    def log(self) -> str:
        return (self.root / "prometheus.log").read_text(errors="replace")
