"""The report's plots: PR and ROC curves, score histograms, training history (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)


def _pyplot():
    """Return matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(
    report_dir: Path,
    scores: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    title: str = "test split",
) -> list[Path]:
    """Write pr_curve.png, roc_curve.png and score_histogram.png; return their paths."""
    plt = _pyplot()
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
    plt = _pyplot()
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
    plt = _pyplot()
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
