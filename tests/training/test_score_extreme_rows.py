"""`score` alerts on every extreme row, with a finite score and the out-of-range feature named."""

import math
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parents[1]))
from extreme_rows import EXTREMES, extreme_rows  # noqa: E402

from training.__main__ import main  # noqa: E402


def test_every_extreme_row_alerts_naming_its_feature(model_bundle, stream, tmp_path, capsys):
    rows = extreme_rows(stream.csv)
    data, out = tmp_path / "extreme.csv", tmp_path / "scores.csv"
    rows.drop(columns=["transaction_id"]).to_csv(data, index=False)
    assert (
        main(["score", "--model-dir", str(model_bundle), "--data", str(data), "--out", str(out)])
        == 0
    )
    scores = pd.read_csv(out, keep_default_na=False)
    for (feature, _), (_, row) in zip(EXTREMES, scores.iterrows(), strict=True):
        assert row["alert"] == 1
        assert "out_of_range" in row["reasons"].split("+")
        assert feature in row["out_of_range"].split()
        assert math.isfinite(float(row["score"]))
