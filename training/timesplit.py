"""Split a transactions CSV in time order: train on the earlier part, replay the later part.

This is how a team would try the detector on its own history: fit on the first days and stream
the rest through Kafka as if it were arriving now. Rows are ordered by the time column when the
file has one (stable, so ties keep file order), else taken in file order.

    python -m training.timesplit --data creditcard.csv --train-share 0.6 \
        --train-out train.csv --stream-out stream.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from training.datasets.dataset import read_csv
from training.scoring.errors import OptionError, TrainingError

TIME_COLUMN = "Time"
MIN_PART_ROWS = 20


def split_in_time(
    frame: pd.DataFrame,
    train_share: float,
    time_column: str = TIME_COLUMN,
    min_rows: int = MIN_PART_ROWS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the earliest `train_share` of the rows and the rest, each in time order.

    >>> frame = pd.DataFrame({"Time": [3, 1, 2, 4], "V1": [30, 10, 20, 40]})
    >>> train, stream = split_in_time(frame, 0.5, min_rows=1)
    >>> train["V1"].tolist(), stream["V1"].tolist()
    ([10, 20], [30, 40])

    Raises:
        OptionError: the share is not between 0 and 1, or leaves too few rows on one side.
    """
    if not 0 < train_share < 1:
        raise OptionError(f"train share {train_share} must lie strictly between 0 and 1")
    if time_column in frame.columns:
        frame = frame.sort_values(time_column, kind="stable")
    cut = round(len(frame) * train_share)
    if min(cut, len(frame) - cut) < min_rows:
        raise OptionError(
            f"a train share of {train_share} splits {len(frame)} rows into {cut} and "
            f"{len(frame) - cut}; each part needs at least {min_rows} rows"
        )
    return frame.iloc[:cut], frame.iloc[cut:]


def build_parser() -> argparse.ArgumentParser:
    """Return the command line of `python -m training.timesplit`."""
    parser = argparse.ArgumentParser(
        prog="python -m training.timesplit",
        description="Split a transactions CSV in time order (by its Time column, else file "
        "order) into an earlier part to train on and a later part to replay.",
    )
    parser.add_argument("--data", type=Path, required=True, help="transactions CSV")
    parser.add_argument(
        "--train-share", type=float, default=0.6, help="share of rows to train on (0.6)"
    )
    parser.add_argument("--train-out", type=Path, required=True, help="CSV of the earlier rows")
    parser.add_argument("--stream-out", type=Path, required=True, help="CSV of the later rows")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Split the CSV named on the command line; exit 2 with one line on a bad file or option."""
    args = build_parser().parse_args(argv)
    try:
        train, stream = split_in_time(read_csv(args.data), args.train_share)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for part, path in ((train, args.train_out), (stream, args.stream_out)):
        path.parent.mkdir(parents=True, exist_ok=True)
        part.to_csv(path, index=False)
    print(
        f"split {len(train) + len(stream)} rows in time order: {len(train)} to train on "
        f"({args.train_out}), {len(stream)} to stream ({args.stream_out})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
