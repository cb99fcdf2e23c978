"""Helpers for the monitoring tests: promtool, the deploy files, what the consumer exports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from prometheus_client import CollectorRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
# A metric (fraud_...) or a series recorded by a rule of alerts.yml (fraud:...:...).
METRIC_NAME = re.compile(r"\bfraud(?:_[a-z_]+|:[a-z_]+:[a-z0-9_]+)\b")
# Series that Prometheus itself adds to every scrape and rule evaluation.
PROMETHEUS_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE"}
# Metrics the deploy files read that nothing exports yet, each with what will export it (none
# now: fraud_model_validation_precision, the last, is the scorer's since issue 21).
PROPOSED: dict[str, str] = {}


def run_promtool(promtool: str, *args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    """Run promtool; return its output, failing the test with it if promtool fails."""
    result = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def sample_names(registry: CollectorRegistry) -> set[str]:
    """Return every sample name the registry's metric families can export."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count")}
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def metric_names(expr: str) -> set[str]:
    """Return the fraudstream metric and recorded series names a PromQL expression reads (and
    Prometheus' own).

    >>> sorted(metric_names('max(fraud:feedback_alerts:committed) / sum(fraud_alerts_total)'))
    ['fraud:feedback_alerts:committed', 'fraud_alerts_total']
    """
    names = set(METRIC_NAME.findall(expr))
    names.update(n for n in PROMETHEUS_SERIES if re.search(rf"\b{n}\b", expr))
    return names
