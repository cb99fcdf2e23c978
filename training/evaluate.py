"""Detection metrics on labelled scores, and the plots that show them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from training.scoring import is_alert


def detection_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, Any]:
    """Return ROC AUC, average precision and the confusion counts at a threshold.

    Ranking metrics are None when the labels hold a single class (they are undefined).

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
    return {
        "rows": int(len(labels)),
        "positives": int(labels.sum()),
        "roc_auc": float(roc_auc_score(labels, scores)) if both_classes else None,
        "average_precision": float(average_precision_score(labels, scores))
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


def write_plots(
    report_dir: Path,
    scores: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    title: str = "test split",
) -> list[Path]:
    """Write pr_curve.png, roc_curve.png and score_histogram.png; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = np.asarray(labels).astype(bool)
    written = []
    if 0 < labels.sum() < len(labels):
        written.append(_pr_plot(plt, report_dir / "pr_curve.png", scores, labels, title))
        written.append(_roc_plot(plt, report_dir / "roc_curve.png", scores, labels, title))
    written.append(
        _histogram(plt, report_dir / "score_histogram.png", scores, labels, threshold, title)
    )
    return written


def _pr_plot(plt, path: Path, scores, labels, title: str) -> Path:
    precision, recall, _ = precision_recall_curve(labels, scores)
    ap = average_precision_score(labels, scores)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.step(recall, precision, where="post", color="tab:blue")
    ax.fill_between(recall, precision, step="post", alpha=0.2, color="tab:blue")
    ax.set(xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.05))
    ax.set_title(f"Precision-recall curve ({title}): AP={ap:.3f}")
    return _save(plt, fig, path)


def _roc_plot(plt, path: Path, scores, labels, title: str) -> Path:
    fpr, tpr, _ = roc_curve(labels, scores)
    auc = roc_auc_score(labels, scores)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot(fpr, tpr, color="tab:orange", label=f"AUC = {auc:.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.05))
    ax.set_title(f"ROC curve ({title}): AUC={auc:.3f}")
    ax.legend(loc="lower right")
    return _save(plt, fig, path)


def _histogram(plt, path: Path, scores, labels, threshold: float, title: str) -> Path:
    logged = np.log10(np.maximum(scores, 1e-12))
    bins = np.linspace(logged.min(), logged.max(), 60) if len(logged) else 10
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.hist(logged[~labels], bins=bins, alpha=0.6, density=True, label="normal")
    if labels.any():
        ax.hist(logged[labels], bins=bins, alpha=0.6, density=True, label="fraud")
    ax.axvline(np.log10(max(threshold, 1e-12)), color="black", linestyle="--", label="threshold")
    ax.set(xlabel="log10(anomaly score)", ylabel="density")
    ax.set_title(f"Score distribution by class ({title})")
    ax.legend()
    return _save(plt, fig, path)


def write_history_plot(path: Path, histories: list[dict[str, list[float]]]) -> Path:
    """Plot training and validation loss per epoch for each network of the ensemble."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for i, history in enumerate(histories):
        epochs = np.arange(1, len(history.get("loss", [])) + 1)
        ax.plot(epochs, history.get("loss", []), color=f"C{i}", label=f"net {i} train")
        if history.get("val_loss"):
            ax.plot(
                epochs, history["val_loss"], color=f"C{i}", linestyle="--", label=f"net {i} val"
            )
    ax.set(xlabel="epoch", ylabel="loss (MSE, scaled features)", yscale="log")
    ax.set_title("Training history")
    ax.legend(fontsize="small")
    return _save(plt, fig, path)


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_overlaid_curves(
    directory: Path,
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    title: str,
    stem: str,
) -> list[Path]:
    """Write `{stem}_pr.png` and `{stem}_roc.png`: one curve per name -> (labels, scores)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_pr, ax_pr = plt.subplots(figsize=(6.5, 5))
    fig_roc, ax_roc = plt.subplots(figsize=(6.5, 5))
    for name, (labels, scores) in series.items():
        precision, recall, _ = precision_recall_curve(labels, scores)
        ap = average_precision_score(labels, scores)
        ax_pr.step(recall, precision, where="post", label=f"{name} (AP {ap:.3f})")
        fpr, tpr, _ = roc_curve(labels, scores)
        ax_roc.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(labels, scores):.3f})")
    ax_roc.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax_pr.set(xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.05))
    ax_roc.set(
        xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.05)
    )
    ax_pr.set_title(f"Precision-recall: {title}")
    ax_roc.set_title(f"ROC: {title}")
    ax_pr.legend(loc="upper right", fontsize="small")
    ax_roc.legend(loc="lower right", fontsize="small")
    return [
        _save(plt, fig_pr, directory / f"{stem}_pr.png"),
        _save(plt, fig_roc, directory / f"{stem}_roc.png"),
    ]
