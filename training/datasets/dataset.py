"""Read a transactions CSV and turn it into a validated feature matrix and labels."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training.scoring.errors import DataError

MIN_ROWS = 20


@dataclass(frozen=True)
class Dataset:
    """A numeric feature matrix, optional 0/1 labels and the feature names in column order."""

    features: np.ndarray
    labels: np.ndarray | None
    feature_names: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        return int(self.features.shape[0])

    def require_labels(self, source: str) -> np.ndarray:
        """Return the labels, or raise DataError naming `source` when there are none."""
        if self.labels is None:
            raise DataError(f"{source}: no label column; this command needs labelled data")
        return self.labels


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV file, turning every way it can fail into a DataError that names the file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found; pass the path of a CSV file with --data")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; pass the path of a CSV file with --data")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty; it needs a header row and data rows")
    try:
        frame = pd.read_csv(path, low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from exc
    if frame.empty:
        raise DataError(f"{path}: has a header but no data rows")
    return frame


def choose_features(
    columns: Sequence[str],
    label_column: str | None,
    drop_columns: Sequence[str],
    features: Sequence[str] | None,
) -> tuple[str, ...]:
    """Return the feature columns: those named, else every column but the label and dropped ones.

    >>> choose_features(["Time", "V1", "V2", "Class"], "Class", ["Time"], None)
    ('V1', 'V2')
    """
    present = set(columns)
    if features:
        missing = [name for name in features if name not in present]
        if missing:
            raise DataError(f"feature column(s) not in the file: {', '.join(missing)}")
        return tuple(features)
    excluded = set(drop_columns) | ({label_column} if label_column else set())
    chosen = tuple(name for name in columns if name not in excluded)
    if not chosen:
        raise DataError("no feature columns left after removing the label and dropped columns")
    return chosen


def to_dataset(
    frame: pd.DataFrame,
    feature_names: Sequence[str],
    label_column: str | None,
    source: str = "data",
    min_rows: int = 0,
) -> Dataset:
    """Validate the chosen columns of a frame and return them as a Dataset.

    A missing label column means unlabelled data. Raises DataError for missing or non-numeric
    features, NaN or infinite values, labels other than 0/1, or fewer than `min_rows` rows.
    """
    missing = [name for name in feature_names if name not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing feature column(s): {', '.join(missing)}")
    matrix = _numeric_matrix(frame, feature_names, source)
    labels = None
    if label_column and label_column in frame.columns:
        labels = _binary_labels(frame[label_column], label_column, source)
    if len(matrix) < min_rows:
        raise DataError(f"{source}: {len(matrix)} rows is too few; at least {min_rows} are needed")
    return Dataset(matrix, labels, tuple(feature_names))


def _numeric_matrix(frame: pd.DataFrame, names: Sequence[str], source: str) -> np.ndarray:
    columns = []
    for name in names:
        if pd.api.types.is_bool_dtype(frame[name]):
            raise DataError(
                f"{source}: column {name!r} holds true/false values; write them as 1/0 "
                "(the consumer accepts numbers only) or drop it with --drop-columns"
            )
        values = pd.to_numeric(frame[name], errors="coerce")
        bad = values.isna() & frame[name].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{source}: column {name!r} is not numeric "
                f"(row {row + 1} holds {frame[name].iloc[row]!r}); "
                "drop it with --drop-columns or fix the value"
            )
        columns.append(values.to_numpy(dtype=np.float64))
    matrix = np.column_stack(columns) if columns else np.empty((len(frame), 0))
    finite = np.isfinite(matrix)
    if not finite.all():
        row, col = map(int, np.argwhere(~finite)[0])
        raise DataError(
            f"{source}: column {names[col]!r} has a missing, NaN or infinite value "
            f"(first at row {row + 1}); clean or impute it before training"
        )
    return matrix


def _binary_labels(column: pd.Series, name: str, source: str) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce")
    valid = values.isin([0, 1])
    if not valid.all():
        odd = sorted({repr(v) for v in column[~valid].head(5)})
        raise DataError(
            f"{source}: label column {name!r} must hold only 0 and 1, found {', '.join(odd)}; "
            "fix the labels or pass --label-column '' to train without labels"
        )
    return values.to_numpy(dtype=np.int8)


def fingerprint(dataset: Dataset) -> str:
    """Return a SHA-256 of the feature names, values and labels, to tie a bundle to its data."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(dataset.feature_names).encode())
    digest.update(np.ascontiguousarray(dataset.features).tobytes())
    if dataset.labels is not None:
        digest.update(np.ascontiguousarray(dataset.labels).tobytes())
    return "sha256:" + digest.hexdigest()


def read_labelled(
    path: str | Path,
    label_column: str = "Class",
    drop_columns: Sequence[str] = ("Time",),
    command: str = "this command",
) -> tuple[Dataset, np.ndarray]:
    """Read a labelled CSV: every column but the label and `drop_columns` a feature.

    Raises:
        DataError: the file cannot be read, is not numeric, or has no label column (the
            message says that `command` needs labels).
    """
    frame = read_csv(path)
    if label_column not in frame.columns:
        raise DataError(f"{path}: no label column {label_column!r}; {command} needs labels")
    names = choose_features(list(frame.columns), label_column, drop_columns, None)
    dataset = to_dataset(frame, names, label_column, str(path), MIN_ROWS)
    return dataset, dataset.require_labels(str(path))
