import numpy as np
import pandas as pd
import pytest

from training.datasets.dataset import (
    choose_features,
    fingerprint,
    read_csv,
    read_labelled,
    to_dataset,
)
from training.scoring.errors import DataError


def _write(tmp_path, text: str, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_features_and_labels(tmp_path):
    frame = read_csv(_write(tmp_path, "Time,V1,Amount,Class\n0,1.5,10,0\n1,-2,3.5,1\n"))
    names = choose_features(list(frame.columns), "Class", ["Time"], None)
    dataset = to_dataset(frame, names, "Class")
    assert dataset.feature_names == ("V1", "Amount")
    np.testing.assert_array_equal(dataset.features, [[1.5, 10], [-2, 3.5]])
    assert dataset.labels.tolist() == [0, 1]


def test_read_labelled_takes_every_column_but_time_and_class(tmp_path):
    rows = "".join(f"{t},{t * 0.5},{t + 1},{t % 2}\n" for t in range(25))
    dataset, labels = read_labelled(_write(tmp_path, "Time,V1,Amount,Class\n" + rows))
    assert dataset.feature_names == ("V1", "Amount") and labels.sum() == 12
    with pytest.raises(DataError, match="no label column"):
        read_labelled(_write(tmp_path, "Time,V1\n" + "0,1\n" * 25, "unlabelled.csv"))


def test_missing_label_column_means_unlabelled(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    assert to_dataset(frame, ["a"], "Class").labels is None


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "file not found"),
        ("", "file is empty"),
        ("a,b,Class\n", "no data rows"),
    ],
)
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "data.csv" if content is None else _write(tmp_path, content)
    with pytest.raises(DataError, match=message):
        read_csv(path)


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_csv(tmp_path)


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"a": ["1", "x"], "Class": [0, 1]}), r"column 'a' is not numeric \(row 2"),
        (pd.DataFrame({"a": [1.0, np.nan], "Class": [0, 1]}), "NaN or infinite"),
        (pd.DataFrame({"a": [1.0, np.inf], "Class": [0, 1]}), "NaN or infinite"),
        (pd.DataFrame({"a": [1.0, 2.0], "Class": [0, 2]}), "must hold only 0 and 1"),
        (pd.DataFrame({"b": [1.0, 2.0]}), "missing feature column"),
        (pd.DataFrame({"a": [True, False]}), "holds true/false values"),
    ],
)
def test_bad_values_name_the_column_and_the_fix(frame, message):
    with pytest.raises(DataError, match=message):
        to_dataset(frame, ["a"], "Class")


def test_too_few_rows():
    with pytest.raises(DataError, match="too few"):
        to_dataset(pd.DataFrame({"a": [1.0, 2.0]}), ["a"], None, min_rows=20)


def test_explicit_features_must_exist():
    with pytest.raises(DataError, match="not in the file: zz"):
        choose_features(["a", "b"], None, [], ["a", "zz"])
    with pytest.raises(DataError, match="no feature columns left"):
        choose_features(["Time", "Class"], "Class", ["Time"], None)


def test_fingerprint_changes_with_data():
    frame = pd.DataFrame({"a": [1.0, 2.0], "Class": [0, 1]})
    first = fingerprint(to_dataset(frame, ["a"], "Class"))
    frame.loc[0, "a"] = 1.5
    assert fingerprint(to_dataset(frame, ["a"], "Class")) != first
    assert first.startswith("sha256:")
