"""The command line end to end, in a subprocess, as a user runs it; refusals in-process."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from cli_helpers import run_in_process

FAST = ["--epochs", "3", "--patience", "0", "--ensemble", "1", "--batch-size", "64"]


def run(*args, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "training", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.mark.keras
def test_synth_fit_score_evaluate(tmp_path):
    data, model, scores, report = (
        tmp_path / "t.csv",
        tmp_path / "model",
        tmp_path / "scores.csv",
        tmp_path / "report",
    )
    run("synth", "--rows", 3000, "--fraud-rate", 0.02, "--out", data, "--seed", 5)
    fitted = run("fit", "--data", data, "--model-dir", model, *FAST)
    assert "epoch 3/3" in fitted.stderr and "ROC AUC" in fitted.stderr
    run("score", "--model-dir", model, "--data", data, "--out", scores)
    scored = pd.read_csv(scores)
    # 60 labelled frauds: fit trains the supervised stage beside the autoencoder.
    assert "supervised stage:" in fitted.stderr
    assert list(scored.columns) == ["score", "probability", "alert", "reasons", "out_of_range"]
    assert len(scored) == 3000
    manifest = json.loads((model / "manifest.json").read_text())
    decision = manifest["supervised"]["decision"]
    assert decision["score_threshold"] == manifest["threshold"]["value"]
    assert 0 < decision["probability_floor"] < 0.1  # the validation split's fraud share
    # The decision's rule, and a value far outside the training ranges alerts on its own.
    expected = (
        (scored["probability"] > decision["probability_threshold"])
        | (
            (scored["score"] > decision["score_threshold"])
            & (
                (scored["probability"] >= decision["probability_floor"])
                | (scored["score"] > decision["score_ceiling"])
            )
        )
        | scored["reasons"].fillna("").str.contains("out_of_range")
    )
    assert (expected == scored["alert"].astype(bool)).all()
    evaluated = run("evaluate", "--model-dir", model, "--data", data, "--report-dir", report)
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["roc_auc"] > 0.8 and metrics["model_version"] == manifest["model_version"]
    assert "ROC AUC" in evaluated.stdout
    assert (report / "pr_curve.png").exists() and (report / "roc_curve.png").exists()


@pytest.mark.keras
def test_score_ignores_extra_columns_and_keeps_input_order(tmp_path):
    data, model = tmp_path / "t.csv", tmp_path / "model"
    run("synth", "--rows", 1500, "--fraud-rate", 0.02, "--out", data)
    run("fit", "--data", data, "--model-dir", model, "--veto", "none", *FAST)
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["supervised"]["decision"]["probability_floor"] == 0  # no veto
    frame = pd.read_csv(data)
    shuffled = frame.sample(frac=1.0, random_state=0).assign(note="x")
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    run("score", "--model-dir", model, "--data", data, "--out", tmp_path / "a.csv")
    run(
        "score",
        "--model-dir",
        model,
        "--data",
        tmp_path / "shuffled.csv",
        "--out",
        tmp_path / "b.csv",
    )
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert b["score"].tolist() == pytest.approx(a["score"].iloc[shuffled.index].tolist(), rel=1e-6)


@pytest.mark.keras
def test_unlabelled_training_with_reference_preset(tmp_path):
    data, model = tmp_path / "t.csv", tmp_path / "model"
    run("synth", "--rows", 1500, "--out", data)
    pd.read_csv(data).drop(columns=["Class"]).to_csv(data, index=False)
    result = run(
        "fit", "--data", data, "--model-dir", model, "--preset", "reference", "--epochs", 1
    )
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["training"]["labelled"] is False
    assert manifest["networks"][0]["layers"] == [
        {"units": 27, "activation": "linear"},
        {"units": 29, "activation": "linear"},
    ]
    assert manifest["scaler"]["method"] == "standard"
    assert manifest["scaler"]["log"] == [False] * 29  # the tutorial scales Amount as it is
    assert manifest["networks"][0]["reconstruction_scale"] is None
    assert "unlabelled" in result.stderr


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (None, ["--data", "{tmp}/missing.csv"], "file not found"),
        ("", ["--data", "{tmp}/d.csv"], "file is empty"),
        ("a,b,Class\n1,x,0\n", ["--data", "{tmp}/d.csv"], "column 'b' is not numeric"),
        ("a,Class\n1,0\n", ["--data", "{tmp}/d.csv"], "too few"),
        ("a,Class\n1,0\n", ["--data", "{tmp}/d.csv", "--threshold", "top:3"], "threshold 'top:3'"),
        (
            "a,Class\n1,0\n",
            ["--data", "{tmp}/d.csv", "--epochs", "0"],
            "--epochs must be at least 1",
        ),
        ("a,Class\n1,0\n", ["--data", "{tmp}/d.csv", "--features", "zz"], "not in the file: zz"),
        ("a,Class\n1,0\n", ["--data", "{tmp}/d.csv", "--encoder", "infx"], "layer width 'infx'"),
        (
            "a,Class\n1,0\n",
            ["--data", "{tmp}/d.csv", "--scaling", "minmax"],
            "--scaling must be one of auto, central, robust, standard",
        ),
    ],
)
def test_bad_input_gives_one_clear_line_and_writes_nothing(tmp_path, capsys, setup, args, message):
    if setup is not None:
        (tmp_path / "d.csv").write_text(setup)
    args = [a.format(tmp=tmp_path) for a in args]
    result = run_in_process(capsys, "fit", *args, "--model-dir", tmp_path / "model")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "model").exists()


def test_existing_model_dir_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "model").mkdir()
    synth = run_in_process(capsys, "synth", "--rows", 100, "--out", tmp_path / "d.csv")
    assert synth.returncode == 0, synth.stderr
    result = run_in_process(
        capsys, "fit", "--data", tmp_path / "d.csv", "--model-dir", tmp_path / "model"
    )
    assert result.returncode == 2 and "already exists" in result.stderr
    assert "epoch" not in result.stderr


def test_help_is_available_for_every_command(capsys):
    for command in ("synth", "fit", "score", "evaluate", "compare"):
        assert "usage:" in run_in_process(capsys, command, "--help").stdout
