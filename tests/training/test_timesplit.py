"""The time-ordered split behind `DEMO_DATA=... scripts/demo`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.scoring.errors import OptionError
from training.timesplit import main, split_in_time


def shuffled_frame(rows: int = 100, with_time: bool = True) -> pd.DataFrame:
    order = np.random.default_rng(0).permutation(rows)
    frame = pd.DataFrame({"V1": order * 1.5, "Class": (order % 10 == 0).astype(int)})
    if with_time:
        frame.insert(0, "Time", order)
    return frame


def test_the_training_part_holds_the_earliest_rows_and_nothing_is_lost():
    frame = shuffled_frame()
    train, stream = split_in_time(frame, 0.6)
    assert len(train) == 60 and len(stream) == 40
    assert train["Time"].max() < stream["Time"].min()
    assert list(stream["Time"]) == sorted(stream["Time"])
    merged = pd.concat([train, stream]).sort_values("Time")
    pd.testing.assert_frame_equal(merged, frame.sort_values("Time"))


def test_without_a_time_column_the_file_order_is_the_time_order():
    frame = shuffled_frame(with_time=False)
    train, stream = split_in_time(frame, 0.25)
    assert list(train.index) == list(range(25))
    assert list(stream.index) == list(range(25, 100))


@pytest.mark.parametrize("share", [0.0, 1.0, -0.2, 0.1])
def test_a_share_outside_zero_one_or_leaving_too_few_rows_is_refused(share):
    with pytest.raises(OptionError, match="train share"):
        split_in_time(shuffled_frame(), share)


def test_the_command_writes_both_parts(tmp_path, capsys):
    source = tmp_path / "all.csv"
    shuffled_frame().to_csv(source, index=False)
    code = main(
        [
            "--data",
            str(source),
            "--train-out",
            str(tmp_path / "a.csv"),
            "--stream-out",
            str(tmp_path / "b.csv"),
        ]
    )
    assert code == 0
    assert len(pd.read_csv(tmp_path / "a.csv")) == 60
    assert len(pd.read_csv(tmp_path / "b.csv")) == 40
    assert "60 to train on" in capsys.readouterr().out


def test_the_command_names_a_missing_file_and_exits_two(tmp_path, capsys):
    code = main(["--data", str(tmp_path / "nope.csv"), "--train-out", "a", "--stream-out", "b"])
    assert code == 2
    assert "nope.csv: file not found" in capsys.readouterr().err
