"""`python -m training fit` with default settings on ULB-sized synthetic data: time and memory.

Its bundle is the default bundle every other benchmark scores with, and its CSV the stream.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.processes import Measured, run_measured


@dataclass(frozen=True)
class FitRun:
    rows: int
    measured: Measured  # the fit process alone
    model_dir: Path
    test_roc_auc: float
    test_average_precision: float
    test_average_precision_at_prevalence: float | None  # at the production fraud rate
    epochs: list[int]
    stage: bool  # whether the bundle has the supervised stage


def synthesize(rows: int, out: Path, log: Path, fraud_rate: float | None = None) -> Path:
    """Write `rows` synthetic transactions (seed 0: the world `fit` learns) to `out`."""
    if not out.exists():
        rate = [] if fraud_rate is None else ["--fraud-rate", str(fraud_rate)]
        command = ["synth", "--rows", str(rows), "--out", str(out), *rate]
        run_measured([sys.executable, "-m", "training", *command], log)
    return out


def fit(data: Path, rows: int, model_dir: Path, log: Path, *options: str) -> FitRun:
    """Run `python -m training fit` on `data` (defaults, plus `options`); return what it cost."""
    command = ["fit", "--data", str(data), "--model-dir", str(model_dir), *options]
    measured = run_measured([sys.executable, "-m", "training", *command], log)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    test = manifest["metrics"]["test"]
    history = json.loads((model_dir / "history.json").read_text())
    return FitRun(
        rows,
        measured,
        model_dir,
        test["roc_auc"],
        test["average_precision"],
        test.get("at_prevalence", {}).get("average_precision"),
        [len(h["loss"]) for h in history],
        "supervised" in manifest,
    )
