"""Build alert and score records from a scored batch. Pure: the caller supplies the clock."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from consumer.messages import Decoded
from consumer.roles import CHAMPION
from training.scoring.detector import top_contributors
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
class OutRecord:
    """One record to publish, keyed by transaction id; `row` is its index in the batch."""

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
) -> Outputs:
    """Return alert records (see `Scored.alerts`) and, if `with_scores`, one per row.

    A score that is not finite (an overflowing input) alerts, and is written as JSON null.

    Parameters:
        decoded: the batch's accepted messages and features.
        scored: the batch's scores from `training.scoring.scorer.Scorer`, rows as in `decoded`.
        model: version, thresholds and feature names for the records.
        scored_at: epoch seconds when the batch was scored.
        top_k: how many top contributing features each record explains.
        with_scores: also build one score record (with an `alert` flag) for every row.
    """
    scores, flags = scored.score, scored.alerts
    rows = np.arange(len(scores)) if with_scores else np.flatnonzero(flags)
    tops = top_contributors(scored.contributions[rows], model.feature_names, top_k)
    alerts: list[OutRecord] = []
    score_records: list[OutRecord] = []
    for row, top in zip(rows.tolist(), tops, strict=True):
        document = alert_document(decoded, row, float(scores[row]), top, model, scored_at)
        document["reasons"] = scored.reasons_at(row)
        if scored.probability is not None:
            document["probability"] = float(scored.probability[row])
            document["probability_threshold"] = model.probability_threshold
        key = decoded.transaction_ids[row].encode()
        if flags[row]:
            alerts.append(OutRecord(key, orjson.dumps(document), row))
        if with_scores:
            document["alert"] = bool(flags[row])
            score_records.append(OutRecord(key, orjson.dumps(document), row))
    return Outputs(alerts, score_records, model.role or CHAMPION, model.version)


def alert_document(
    decoded: Decoded,
    row: int,
    score: float,
    top: list[tuple[str, float]],
    model: ModelInfo,
    scored_at: float,
) -> dict[str, Any]:
    """Return the alert schema for one row of a batch (see the README)."""
    message = decoded.messages[row]
    values = decoded.features[row]
    index = model.feature_index
    return {
        "transaction_id": decoded.transaction_ids[row],
        "score": score,
        "threshold": model.threshold,
        "model_version": model.version,
        **({"role": model.role} if model.role is not None else {}),
        "source_topic": message.topic(),
        "source_partition": message.partition(),
        "source_offset": message.offset(),
        "event_time": iso_time(float(decoded.event_times[row])),
        "scored_at": iso_time(scored_at),
        "top_features": [
            {"feature": name, "contribution": share, "value": float(values[index[name]])}
            for name, share in top
        ],
    }


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
