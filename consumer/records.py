"""Build alert and score records from a scored batch. Pure: the caller supplies the clock."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import orjson

from consumer.messages import Decoded
from consumer.roles import CHAMPION
from training.scoring.scorer import Scored


@dataclass(frozen=True)
class ModelInfo:
    """What every record says about the model that scored it."""

    version: str
    threshold: float
    feature_names: tuple[str, ...]
    # The supervised stage's threshold, when the bundle has the stage.
    probability_threshold: float | None = None
    # Written into each alert when set: a challenger marks its would-be alerts with its role.
    role: str | None = None
    feature_index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {name: i for i, name in enumerate(self.feature_names)}
        object.__setattr__(self, "feature_index", index)


@dataclass(frozen=True)
class RecordFormats:
    """How alert and score documents become record values (JSON unless told otherwise)."""

    alert: Callable[[dict[str, Any]], bytes] = orjson.dumps
    score: Callable[[dict[str, Any]], bytes] = orjson.dumps


JSON_RECORDS = RecordFormats()


class OutRecord(NamedTuple):
    """One record to publish, keyed by transaction id; `row` is its index in the batch.

    A tuple, not a frozen dataclass: one is made per transaction, and a tuple is made faster.
    """

    key: bytes
    value: bytes
    row: int


@dataclass(frozen=True)
class Outputs:
    """The records of one batch: alerts, and one score record per row when asked for, with the
    role and version of the model that made them."""

    alerts: list[OutRecord]
    scores: list[OutRecord]
    role: str = CHAMPION
    model_version: str = ""


def build_outputs(
    decoded: Decoded,
    scored: Scored,
    model: ModelInfo,
    scored_at: float,
    top_k: int,
    with_scores: bool,
    formats: RecordFormats = JSON_RECORDS,
) -> Outputs:
    """Return alert records (see `Scored.alerts`) and, if `with_scores`, one per row.

    A row whose input overflowed alerts with its score capped (finite) and `"overflow": true`;
    a row with values far outside the training ranges names them in `out_of_range`.
    Every column is taken for the whole batch at once (times formatted, top features ordered,
    numbers converted): with a record per transaction, a Python call per field and row was
    most of the loop's time.

    Parameters:
        decoded: the batch's accepted messages and features.
        scored: the batch's scores from `training.scoring.scorer.Scorer`, rows as in `decoded`.
        model: version, thresholds and feature names for the records.
        scored_at: epoch seconds when the batch was scored.
        top_k: how many top contributing features each record explains.
        with_scores: also build one score record (with an `alert` flag) for every row.
        formats: the encoding of each kind of record.
    """
    flags = scored.alerts
    rows = np.arange(len(flags)) if with_scores else np.flatnonzero(flags)
    alerts: list[OutRecord] = []
    score_records: list[OutRecord] = []
    if not len(rows):
        return Outputs(alerts, score_records)
    contributions = scored.contributions[rows]
    k = min(top_k, contributions.shape[1])
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
    names = np.array(model.feature_names, dtype=object)[order].tolist()
    shares = np.take_along_axis(contributions, order, axis=1).tolist()
    values = np.take_along_axis(decoded.features[rows], order, axis=1).tolist()
    scores = contributions.sum(axis=1).tolist()
    event_times = iso_times(decoded.event_times[rows])
    reasons = _reasons(scored.raised_by, rows)
    probabilities = None if scored.probability is None else scored.probability[rows].tolist()
    scored_at_text = iso_time(scored_at)
    ids, messages = decoded.transaction_ids, decoded.messages
    raised = flags[rows].tolist()
    role = {"role": model.role} if model.role is not None else {}
    outside = None if scored.outside is None else scored.outside[rows]
    overflow = None if scored.overflow is None else scored.overflow[rows]
    for i, row in enumerate(rows.tolist()):
        message = messages[row]
        document: dict[str, Any] = {
            "transaction_id": ids[row],
            "score": scores[i],
            "threshold": model.threshold,
            "model_version": model.version,
            **role,
            "source_topic": message.topic(),
            "source_partition": message.partition(),
            "source_offset": message.offset(),
            "event_time": event_times[i],
            "scored_at": scored_at_text,
            "top_features": [
                {"feature": name, "contribution": share, "value": value}
                for name, share, value in zip(names[i], shares[i], values[i], strict=True)
            ],
            "reasons": reasons[i],
        }
        if outside is not None and outside[i].any():
            document["out_of_range"] = [model.feature_names[j] for j in np.flatnonzero(outside[i])]
        if overflow is not None and overflow[i]:
            document["overflow"] = True
        if probabilities is not None:
            document["probability"] = probabilities[i]
            document["probability_threshold"] = model.probability_threshold
        key = ids[row].encode()
        alert = raised[i]
        if alert:
            alerts.append(OutRecord(key, formats.alert(document), row))
        if with_scores:
            document["alert"] = alert
            score_records.append(OutRecord(key, formats.score(document), row))
    return Outputs(alerts, score_records, model.role or CHAMPION, model.version)


def _reasons(raised_by: dict[str, np.ndarray], rows: np.ndarray) -> list[list[str]]:
    """Return, for each of `rows`, the stages that raised it (one list per pattern, shared)."""
    names = list(raised_by)
    pattern = np.zeros(len(rows), dtype=np.int64)
    for bit, name in enumerate(names):
        pattern |= raised_by[name][rows].astype(np.int64) << bit
    lists = {
        p: [name for bit, name in enumerate(names) if p >> bit & 1]
        for p in np.unique(pattern).tolist()
    }
    return [lists[p] for p in pattern.tolist()]


# datetime's range, in epoch seconds: outside it `iso_time` says None, row by row.
_EARLIEST_S, _LATEST_S = 0.0, 253_402_214_400.0  # 1970 to the last day of 9999


def iso_times(seconds: np.ndarray) -> list[str | None]:
    """Format many epoch seconds as `iso_time` does, at once (numpy's datetime64).

    >>> iso_times(np.array([1704067200.25, np.nan, 1704067200.0009996]))
    ['2024-01-01T00:00:00.250Z', None, '2024-01-01T00:00:00.001Z']
    """
    seconds = np.asarray(seconds, dtype=np.float64)
    usual = (seconds >= _EARLIEST_S) & (seconds < _LATEST_S)  # NaN is neither
    # As datetime.fromtimestamp: whole seconds, and the fraction rounded half to even to
    # microseconds; isoformat then cuts them to milliseconds.
    fraction, whole = np.modf(np.where(usual, seconds, 0.0))
    micros = np.rint(fraction * 1e6).astype(np.int64)
    millis = whole.astype(np.int64) * 1000 + micros // 1000
    texts = np.char.add(np.datetime_as_string(millis.astype("datetime64[ms]"), unit="ms"), "Z")
    out: list[str | None] = texts.tolist()
    if not usual.all():
        for i in np.flatnonzero(~usual).tolist():
            out[i] = iso_time(float(seconds[i]))
    return out


def iso_time(seconds: float) -> str | None:
    """Format epoch seconds as ISO 8601 UTC with milliseconds; None if unknown or out of range.

    >>> iso_time(1704067200.25), iso_time(float("nan"))
    ('2024-01-01T00:00:00.250Z', None)
    """
    if not math.isfinite(seconds):
        return None
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
