"""Benchmark `python -m training fit` with default settings on ULB-sized synthetic data.

Usage: .venv/bin/python bench/fit_benchmark.py [--rows 284807] [--work DIR] [-- extra fit options]

Prints the wall time and the peak resident memory of the fit process, and the test metrics.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=284_807)
    parser.add_argument("--work", type=Path, help="keep data and bundle here")
    parser.add_argument("fit_options", nargs="*", help="extra options for fit (after --)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fraudstream-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data, model = work / "transactions.csv", work / f"model-{time.time_ns()}"
    if not data.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "training",
                "synth",
                "--rows",
                str(args.rows),
                "--out",
                str(data),
            ],
            check=True,
        )
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "fit",
            "--data",
            str(data),
            "--model-dir",
            str(model),
            *args.fit_options,
        ],
        check=True,
    )
    wall = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    manifest = json.loads((model / "manifest.json").read_text())
    test = manifest["metrics"]["test"]
    print(
        f"fit on {args.rows} rows: wall {wall:.1f} s, peak RSS {peak_mib:.0f} MiB, "
        f"networks trained in {manifest['training']['fit_seconds']:.1f} s, "
        f"epochs {[len(h['loss']) for h in json.loads((model / 'history.json').read_text())]}, "
        f"test ROC AUC {test['roc_auc']:.4f}, AP {test['average_precision']:.4f}, "
        f"AP at the production fraud rate {test['at_prevalence']['average_precision']:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
