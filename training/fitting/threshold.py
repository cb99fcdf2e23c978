"""Choose the alert threshold from validation scores: by recall, precision, alert rate or value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from training.scoring.detector import is_alert
from training.scoring.errors import OptionError

KINDS = ("recall", "precision", "rate", "value")


@dataclass(frozen=True)
class ThresholdStrategy:
    """How to pick the threshold: `kind:target`, e.g. `rate:0.002` or `recall:0.75`."""

    kind: str
    target: float

    def __str__(self) -> str:
        return f"{self.kind}:{self.target:g}"


@dataclass(frozen=True)
class Threshold:
    """A chosen threshold, the strategy behind it, and what it achieved where it was chosen."""

    value: float
    strategy: ThresholdStrategy
    achieved: float
    met: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "strategy": str(self.strategy),
            "achieved": self.achieved,
            "met": self.met,
        }


def parse_strategy(text: str) -> ThresholdStrategy:
    """Parse `kind:target`.

    >>> parse_strategy("rate:0.002")
    ThresholdStrategy(kind='rate', target=0.002)
    """
    kind, sep, target_text = text.partition(":")
    if not sep or kind not in KINDS:
        raise OptionError(
            f"threshold {text!r} is not one of recall:R, precision:P, rate:A or value:V "
            "(for example rate:0.002 alerts on 0.2% of transactions)"
        )
    try:
        target = float(target_text)
    except ValueError:
        raise OptionError(f"threshold {text!r}: {target_text!r} is not a number") from None
    if not np.isfinite(target):
        raise OptionError(f"threshold {text!r}: the target must be finite")
    if kind in ("recall", "precision", "rate") and not 0.0 < target <= 1.0:
        raise OptionError(f"threshold {text!r}: a {kind} target must be in (0, 1]")
    return ThresholdStrategy(kind, target)


def choose_threshold(
    strategy: ThresholdStrategy, scores: np.ndarray, labels: np.ndarray | None = None
) -> Threshold:
    """Return the threshold that meets the strategy on these scores (alerts are score > value).

    - `recall:R`: the highest threshold that still alerts on at least R of the positives.
    - `precision:P`: the lowest threshold whose precision is at least P (most recall); when
      no threshold reaches P, the most precise one, marked `met=False`.
    - `rate:A`: the threshold that alerts on a fraction A of all rows; needs no labels.
    - `value:V`: V itself.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if strategy.kind == "value":
        return _measured(strategy.target, strategy, scores, labels, met=True)
    if strategy.kind == "rate":
        return _by_rate(strategy, scores, labels)
    if labels is None:
        raise OptionError(
            f"threshold {strategy} needs labelled data; use rate:A or value:V without labels"
        )
    labels = np.asarray(labels)
    if not labels.any():
        raise OptionError(
            f"threshold {strategy}: the validation split has no positive rows; "
            "use rate:A or value:V"
        )
    if strategy.kind == "recall":
        return _by_recall(strategy, scores, labels)
    return _by_precision(strategy, scores, labels)


def _by_rate(strategy: ThresholdStrategy, scores: np.ndarray, labels: np.ndarray | None):
    n_alerts = int(np.floor(strategy.target * len(scores)))
    ordered = np.sort(scores)[::-1]
    if n_alerts <= 0:
        value = float(np.nextafter(ordered[0], np.inf))
    elif n_alerts >= len(ordered):
        value = float(np.nextafter(ordered[-1], -np.inf))
    else:
        value = float(ordered[n_alerts])
    return _measured(value, strategy, scores, labels, met=True)


def _by_recall(strategy: ThresholdStrategy, scores: np.ndarray, labels: np.ndarray):
    positives = np.sort(scores[labels == 1])[::-1]
    needed = int(np.ceil(strategy.target * len(positives)))
    # Alert on the `needed` highest positives: put the threshold just below the last of them.
    value = float(np.nextafter(positives[needed - 1], -np.inf))
    return _measured(value, strategy, scores, labels, met=True)


def _by_precision(strategy: ThresholdStrategy, scores: np.ndarray, labels: np.ndarray):
    order = np.argsort(-scores, kind="stable")
    ranked_scores, ranked_labels = scores[order], labels[order]
    true_positives = np.cumsum(ranked_labels)
    precision = true_positives / np.arange(1, len(scores) + 1)
    # Only cut between distinct scores: alerts are score > value, so ties go together.
    last_of_tie = np.append(ranked_scores[1:] < ranked_scores[:-1], True)
    candidates = np.flatnonzero(last_of_tie & (precision >= strategy.target))
    met = candidates.size > 0
    if not met:
        candidates = np.flatnonzero(last_of_tie)
        candidates = candidates[[int(np.argmax(precision[candidates]))]]
    cut = int(candidates[-1])
    value = float(np.nextafter(ranked_scores[cut], -np.inf))
    return _measured(value, strategy, scores, labels, met=met)


def _measured(
    value: float,
    strategy: ThresholdStrategy,
    scores: np.ndarray,
    labels: np.ndarray | None,
    met: bool,
) -> Threshold:
    alerts = is_alert(scores, value)
    if strategy.kind == "recall" and labels is not None:
        achieved = float(alerts[labels == 1].mean())
    elif strategy.kind == "precision" and labels is not None:
        achieved = float(labels[alerts].mean()) if alerts.any() else 0.0
    else:
        achieved = float(alerts.mean())
    return Threshold(value=value, strategy=strategy, achieved=achieved, met=met)
