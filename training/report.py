"""The report of a training run: metrics per split, test plots and the closing summary table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from training.evaluate import detection_metrics, write_plots
from training.scoring import is_alert


def split_metrics(
    scores: dict[str, np.ndarray], labels: dict[str, np.ndarray | None], threshold: float
) -> dict[str, Any]:
    """Return detection metrics per named split (only the alert rate where unlabelled)."""
    result: dict[str, Any] = {}
    for name, split_scores in scores.items():
        split_labels = labels[name]
        if split_labels is None:
            alert_rate = float(is_alert(split_scores, threshold).mean())
            result[name] = {"rows": len(split_scores), "alert_rate": alert_rate}
        else:
            result[name] = detection_metrics(split_scores, split_labels, threshold)
    return result


def write_test_plots(
    directory: Path, scores: np.ndarray, labels: np.ndarray | None, threshold: float
) -> None:
    """Write the PR and ROC curves and the score histogram of the test split."""
    labels = np.zeros(len(scores), dtype=bool) if labels is None else labels.astype(bool)
    write_plots(directory, scores, labels, threshold, "test split")


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
        f"{'split':<11}{'rows':>8}{'ROC AUC':>9}{'AP':>8}{'prec':>8}{'recall':>8}{'alerts':>8}",
    ]
    for name, m in manifest["metrics"].items():
        auc, ap = m.get("roc_auc"), m.get("average_precision")
        lines.append(
            f"{name:<11}{m['rows']:>8}"
            f"{_fmt(auc):>9}{_fmt(ap):>8}{_fmt(m.get('precision')):>8}"
            f"{_fmt(m.get('recall')):>8}{m.get('tp', 0) + m.get('fp', 0) if 'tp' in m else '-':>8}"
        )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
