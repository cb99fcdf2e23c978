"""The model to score with: one bundle, or the newest valid bundle of a directory of bundles.

`--model-dir` is either a bundle (it holds manifest.json) or a directory whose subdirectories
are bundles, such as `training fit --model-dir models/2026-11-28` writes, each atomically. In
the second case the newest valid bundle by `created_at` scores, and `newer()` finds a bundle
that appeared since: the loop swaps it in between two batches. A bundle that does not load, or
that expects other features than the one scoring, is refused with a log line and a counter,
and is looked at again only once its files change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from consumer.logs import log_event
from consumer.metrics import Metrics
from consumer.roles import CHAMPION
from training.scoring.baseline import baseline_of, expected_alert_ratio, validation_precision
from training.scoring.bundle import MANIFEST, load_scorer
from training.scoring.errors import BundleError
from training.scoring.scorer import Scorer

# A bundle's manifest and its scorer: the autoencoder, with the supervised stage if it has one.
Loader = Callable[[Path], tuple[dict[str, Any], Scorer]]
Signature = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class Model:
    """A loaded bundle: where it lives, its manifest and its scorer."""

    path: Path
    manifest: dict[str, Any]
    scorer: Scorer

    @property
    def version(self) -> str:
        return str(self.manifest["model_version"])

    @property
    def created_at(self) -> datetime:
        return created_at(self.manifest)


def created_at(manifest: dict[str, Any]) -> datetime:
    """Return a manifest's creation time; raise BundleError when it has none that parses."""
    try:
        return datetime.fromisoformat(str(manifest["created_at"]))
    except (KeyError, ValueError) as exc:
        raise BundleError(f"manifest has no valid created_at ({exc})") from exc


class ModelDirectory:
    """Load the model of `--model-dir` and, for a directory of bundles, find newer ones.

    Parameters:
        root: a bundle, or a directory of bundles.
        on_refused: called with (path, reason) for each bundle refused (counts it).
        load: reads a bundle (production: `training.scoring.bundle.load_scorer`).
    """

    def __init__(
        self,
        root: Path,
        on_refused: Callable[[Path, str], None] = lambda path, reason: None,
        load: Loader = load_scorer,
    ):
        self.root = root
        self.on_refused = on_refused
        self.load = load
        self.looked_at: dict[Path, Signature] = {}

    @property
    def watches(self) -> bool:
        """Whether newer bundles can appear: `root` is a directory of bundles."""
        return self.root.is_dir() and not (self.root / MANIFEST).exists()

    def first(self) -> Model:
        """Return the model to start with.

        Raises:
            BundleError: `root` is a broken bundle, or a directory without a valid bundle.
        """
        if not self.watches:
            manifest, scorer = self.load(self.root)
            return Model(self.root, manifest, scorer)
        model = self._newest(None)
        if model is None:
            raise BundleError(
                f"{self.root}: no valid model bundle here or in its subdirectories; "
                "train one with `python -m training fit --model-dir DIR/NAME`"
            )
        return model

    def newer(self, current: Model) -> Model | None:
        """Return the newest valid bundle created after `current` that appeared since, if any."""
        return self._newest(current) if self.watches else None

    def _newest(self, current: Model | None) -> Model | None:
        best: Model | None = None
        for path in self._changed_subdirectories():
            model = self._try_load(path, current)
            if model is not None and (best is None or _key(model) > _key(best)):
                best = model
        return best

    def _changed_subdirectories(self) -> list[Path]:
        """Subdirectories (not hidden staging ones) that are new or whose files changed."""
        try:
            paths = sorted(p for p in self.root.iterdir() if p.is_dir())
        except OSError as exc:
            log_event("model_dir_unreadable", logging.WARNING, path=str(self.root), reason=str(exc))
            return []
        changed = []
        for path in paths:
            if path.name.startswith("."):
                continue  # a bundle still being written (save_bundle stages in .NAME.xxxx)
            signature = _signature(path)
            if self.looked_at.get(path) != signature:
                self.looked_at[path] = signature
                changed.append(path)
        return changed

    def _try_load(self, path: Path, current: Model | None) -> Model | None:
        try:
            manifest, scorer = self.load(path)
            model = Model(path, manifest, scorer)
            if current is not None and _key(model) <= _key(current):
                return None  # older than what scores: not a reason to complain
            if current is not None and scorer.feature_names != current.scorer.feature_names:
                raise BundleError(
                    f"{path}: expects features {list(scorer.feature_names)}, "
                    f"not those of the model scoring ({list(current.scorer.feature_names)})"
                )
        except BundleError as exc:
            self.on_refused(path, str(exc))
            log_event("model_refused", logging.WARNING, path=str(path), reason=str(exc))
            return None
        return model


class ModelWatch:
    """Look for a newer bundle at most every `interval` seconds; the loop asks between batches.

    Parameters:
        directory: where bundles appear.
        current: the model scoring now.
        interval: seconds between two looks at the directory.
        monotonic: the clock (a fake one in tests).
    """

    def __init__(
        self,
        directory: ModelDirectory,
        current: Model,
        interval: float,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.directory = directory
        self.current = current
        self.interval = interval
        self.monotonic = monotonic
        self.last_look = monotonic()

    def poll(self) -> Model | None:
        """Return a newer valid model when one appeared since the last look, else None."""
        if not self.directory.watches or self.monotonic() - self.last_look < self.interval:
            return None
        self.last_look = self.monotonic()
        newer = self.directory.newer(self.current)
        if newer is not None:
            self.current = newer
        return newer


def describe(metrics: Metrics, model: Model) -> None:
    """Export `model` as the one scoring: version, threshold, expected alerts, drift baseline."""
    metrics.describe_model(
        model.version,
        model.scorer.threshold,
        expected_alert_ratio(model.manifest),
        baseline_of(model.manifest),
    )
    metrics.describe_role(CHAMPION, model.version, validation_precision(model.manifest))


def _key(model: Model) -> tuple[datetime, str]:
    return model.created_at, model.version


def _signature(path: Path) -> Signature:
    """Name, size and modification time of the files of a bundle: they change as it is written."""
    try:
        return tuple(
            sorted(
                (f.name, f.stat().st_size, f.stat().st_mtime_ns)
                for f in path.iterdir()
                if f.is_file()
            )
        )
    except OSError:
        return ()
