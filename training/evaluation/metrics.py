"""Detection metrics on labelled scores, at the test split's fraud rate and at production's.

Labelled sets are usually enriched with frauds; precision measured on them overstates what
analysts will see. `at_prevalence` re-weights the normal rows so that the frauds make up the
share of transactions the detector will meet in production, and reports average precision and
precision/recall at a threshold on that footing. Recall and ROC AUC do not depend on the mix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from training.scoring.detector import is_alert

# The fraud rate of the full ULB credit-card data set: 492 frauds in 284,807 transactions.
ULB_PREVALENCE = 0.00173


def prevalence_weights(labels: np.ndarray, prevalence: float) -> np.ndarray:
    """Return row weights that make positives a share `prevalence` of the weighted rows.

    Positives weigh 1; each normal row weighs (positives / normals) * (1 - p) / p.

    >>> prevalence_weights(np.array([1, 0, 0, 0]), 0.5).tolist()
    [1.0, 0.3333333333333333, 0.3333333333333333, 0.3333333333333333]
    """
    labels = np.asarray(labels).astype(bool)
    if not 0.0 < prevalence < 1.0:
        raise ValueError(f"prevalence must be in (0, 1), got {prevalence}")
    positives, normals = int(labels.sum()), int((~labels).sum())
    if positives == 0 or normals == 0:
        raise ValueError("re-weighting to a prevalence needs both classes")
    normal_weight = positives / normals * (1.0 - prevalence) / prevalence
    return np.where(labels, 1.0, normal_weight)


def at_prevalence(
    scores: np.ndarray, labels: np.ndarray, prevalence: float, threshold: float | None = None
) -> dict[str, Any]:
    """Return average precision, and precision/recall at `threshold`, re-weighted to `prevalence`.

    Without a threshold only the average precision is returned. Both classes are needed.

    >>> m = at_prevalence(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 0, 0, 1]), 0.5, 0.5)
    >>> m["precision"], m["recall"], round(m["average_precision"], 3)
    (0.5, 0.5, 0.833)
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    weights = prevalence_weights(labels, prevalence)
    result: dict[str, Any] = {
        "prevalence": float(prevalence),
        "average_precision": float(
            average_precision_score(labels, _finite(scores), sample_weight=weights)
        ),
    }
    if threshold is not None:
        alerts = is_alert(scores, threshold)
        true_alerts = float(weights[alerts & labels].sum())
        all_alerts = float(weights[alerts].sum())
        result |= {
            "threshold": float(threshold),
            "precision": true_alerts / all_alerts if all_alerts else 0.0,
            "recall": true_alerts / float(labels.sum()),
            "alert_rate": all_alerts / float(weights.sum()),
        }
    return result


def detection_metrics(
    scores: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    prevalence: float | None = None,
) -> dict[str, Any]:
    """Return ROC AUC, average precision and the confusion counts at a threshold.

    Ranking metrics are None when the labels hold a single class (they are undefined). With a
    `prevalence`, `at_prevalence` holds the same measures re-weighted to that fraud rate.

    >>> m = detection_metrics(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]), 0.5)
    >>> m["roc_auc"], m["precision"], m["recall"], m["tp"], m["fp"]
    (0.75, 1.0, 0.5, 1, 0)
    """
    scores, labels = np.asarray(scores), np.asarray(labels).astype(bool)
    alerts = is_alert(scores, threshold)
    tp = int(np.sum(alerts & labels))
    fp = int(np.sum(alerts & ~labels))
    fn = int(np.sum(~alerts & labels))
    tn = int(np.sum(~alerts & ~labels))
    both_classes = 0 < labels.sum() < len(labels)
    finite = _finite(scores)
    metrics: dict[str, Any] = {
        "rows": int(len(labels)),
        "positives": int(labels.sum()),
        "roc_auc": float(roc_auc_score(labels, finite)) if both_classes else None,
        "average_precision": float(average_precision_score(labels, finite))
        if both_classes
        else None,
        "threshold": float(threshold),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "alert_rate": float(alerts.mean()) if len(alerts) else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }
    if prevalence is not None:
        metrics["at_prevalence"] = (
            at_prevalence(scores, labels, prevalence, threshold) if both_classes else None
        )
    return metrics


def split_metrics(
    scores: dict[str, np.ndarray],
    labels: dict[str, np.ndarray | None],
    threshold: float,
    prevalence: float | None = None,
) -> dict[str, Any]:
    """Return detection metrics per named split (only the alert rate where unlabelled)."""
    result: dict[str, Any] = {}
    for name, split_scores in scores.items():
        split_labels = labels[name]
        if split_labels is None:
            alert_rate = float(is_alert(split_scores, threshold).mean())
            result[name] = {"rows": len(split_scores), "alert_rate": alert_rate}
        else:
            result[name] = detection_metrics(split_scores, split_labels, threshold, prevalence)
    return result


def summary_table(manifest: dict[str, Any]) -> str:
    """Return a short human-readable summary of a freshly trained bundle."""
    threshold = manifest["threshold"]
    lines = [
        f"model {manifest['model_version']}: {len(manifest['features'])} features, "
        f"{len(manifest['networks'])} network(s), "
        f"trained in {manifest['training']['fit_seconds']:.1f} s",
        f"threshold {threshold['value']:.4g} ({threshold['strategy']}, "
        f"achieved {threshold['achieved']:.4g} on validation"
        + ("" if threshold["met"] else ", TARGET NOT MET")
        + ")",
        f"{'split':<11}{'rows':>8}{'ROC AUC':>9}{'AP':>8}{'prec':>8}{'recall':>8}{'alerts':>8}"
        f"{'AP@p':>8}{'prec@p':>8}",
    ]
    for name, m in manifest["metrics"].items():
        auc, ap = m.get("roc_auc"), m.get("average_precision")
        production = m.get("at_prevalence") or {}
        lines.append(
            f"{name:<11}{m['rows']:>8}"
            f"{_fmt(auc):>9}{_fmt(ap):>8}{_fmt(m.get('precision')):>8}"
            f"{_fmt(m.get('recall')):>8}{m.get('tp', 0) + m.get('fp', 0) if 'tp' in m else '-':>8}"
            f"{_fmt(production.get('average_precision')):>8}"
            f"{_fmt(production.get('precision')):>8}"
        )
    prevalence = next(
        (
            m["at_prevalence"]["prevalence"]
            for m in manifest["metrics"].values()
            if m.get("at_prevalence")
        ),
        None,
    )
    if prevalence is not None:
        lines.append(f"AP@p, prec@p: re-weighted to a production fraud rate of {prevalence:g}")
    return "\n".join(lines)


def _finite(scores: np.ndarray) -> np.ndarray:
    """Rank overflowed scores (inf, nan: they always alert) above every finite one."""
    scores = np.asarray(scores, dtype=np.float64)
    if np.isfinite(scores).all():
        return scores
    top = np.nanmax(np.where(np.isfinite(scores), scores, np.nan), initial=0.0)
    return np.where(np.isfinite(scores), scores, top + 1.0)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def stage_summary(metrics: dict[str, Any]) -> str:
    """Return the test split's line per stage: ROC AUC, AP, precision and recall at the alerts."""
    lines = ["stage        ROC AUC    AP   precision  recall  (test split, alerts of the stage)"]
    for name in ("supervised", "both"):
        m = metrics[name].get("test", {})
        if m.get("roc_auc") is None:
            continue
        lines.append(
            f"{name:<11} {m['roc_auc']:>8.4f} {m['average_precision']:>6.3f} "
            f"{m['precision']:>10.3f} {m['recall']:>7.3f}"
        )
    return "\n".join(lines)
