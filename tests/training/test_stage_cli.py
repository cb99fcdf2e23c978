"""`fit --stage` from the command line: today's autoencoder alone, and refusals before training."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from cli_helpers import run_in_process


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "training", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.keras
def test_stage_autoencoder_keeps_the_autoencoder_alone(tmp_path):
    data, model, scores = tmp_path / "t.csv", tmp_path / "model", tmp_path / "s.csv"
    assert run("synth", "--rows", 1500, "--fraud-rate", 0.03, "--out", data).returncode == 0
    fast = ["--epochs", "2", "--patience", "0", "--batch-size", "128"]
    fitted = run("fit", "--data", data, "--model-dir", model, "--stage", "autoencoder", *fast)
    assert fitted.returncode == 0, fitted.stderr
    assert "training the autoencoder only: --stage autoencoder" in fitted.stderr
    manifest = json.loads((model / "manifest.json").read_text())
    assert "supervised" not in manifest and not (model / "supervised.txt").exists()
    assert run("score", "--model-dir", model, "--data", data, "--out", scores).returncode == 0
    assert list(pd.read_csv(scores).columns) == ["score", "alert", "reasons", "out_of_range"]


@pytest.mark.parametrize(
    ("rows", "extra", "message"),
    [
        (400, ["--label-column", ""], "--stage both: the data has no labels"),
        (400, [], "labelled frauds, fewer than the 30 it needs"),
        (3000, ["--threshold", "recall:0.8"], "is not an alert budget"),
    ],
)
def test_stage_both_stops_before_training_when_the_stage_cannot_be_trained(
    tmp_path, capsys, rows, extra, message
):
    data = tmp_path / "t.csv"
    synth = ["synth", "--rows", rows, "--fraud-rate", 0.02, "--out", data]
    assert run_in_process(capsys, *synth).returncode == 0
    fit = ["fit", "--data", data, "--model-dir", tmp_path / "m", "--stage", "both", *extra]
    result = run_in_process(capsys, *fit)
    assert result.returncode == 2 and message in result.stderr
    assert "epoch" not in result.stderr and not (tmp_path / "m").exists()
