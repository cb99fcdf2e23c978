"""A challenger in the shadow: a second model scores every batch the champion scores.

The batch is decoded once; the challenger scores the same feature matrix, and its would-be
alerts, marked `"role": "challenger"` and with its model version, go to a topic of their own
through the same publisher (in the same Kafka transaction under exactly-once), never to the
alert topic. Promotion stays a person's act: a bundle dropped into the champion's model
directory, which hot reload picks up (docs/feedback.md, "From challenger to champion").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from consumer import heap
from consumer.config import RunSettings
from consumer.errors import ConfigError
from consumer.logs import log_event
from consumer.messages import Decoded
from consumer.metrics import Metrics
from consumer.models import Model, ModelDirectory, ModelWatch
from consumer.records import ModelInfo, Outputs, build_outputs
from consumer.roles import CHALLENGER
from training.scoring.baseline import validation_precision
from training.scoring.bundle import load_scorer


class Challenger:
    """Score batches with a second model and build its would-be alerts.

    Parameters:
        model: the challenger's bundle, loaded.
        metrics: its role, version and validation precision are exported with role="challenger".
        top_features: features explaining each alert, as for the champion.
        models: where a newer challenger may appear; asked between batches (None: never).
    """

    def __init__(
        self,
        model: Model,
        metrics: Metrics,
        top_features: int,
        models: ModelWatch | None = None,
    ):
        self.metrics = metrics
        self.top_features = top_features
        self.models = models
        self.adopt(model)

    def adopt(self, model: Model) -> None:
        """Score the next batches with `model`, and export it as the challenger."""
        self.model = model
        decision = model.scorer.decision
        self.info = ModelInfo(
            model.version,
            model.scorer.threshold,
            model.scorer.feature_names,
            None if decision is None else decision.probability_threshold,
            role=CHALLENGER,
        )
        self.metrics.describe_role(CHALLENGER, model.version, validation_precision(model.manifest))

    def refresh(self) -> None:
        """Switch to a newer challenger bundle when one appeared (between batches)."""
        newer = self.models.poll() if self.models is not None else None
        if newer is None:
            return
        previous = self.model.version
        self.adopt(newer)
        heap.refreeze()
        self.metrics.model_reloads.labels("loaded").inc()
        log_event(
            "model_loaded",
            role=CHALLENGER,
            model_version=newer.version,
            previous=previous,
            path=str(newer.path),
        )

    def outputs(self, decoded: Decoded, scored_at: float) -> Outputs:
        """Score the batch the champion decoded; return the challenger's would-be alerts."""
        scored = self.model.scorer.score(decoded.features)
        return build_outputs(
            decoded, scored, self.info, scored_at, self.top_features, with_scores=False
        )


def build_challenger(
    settings: RunSettings, metrics: Metrics, champion_features: Sequence[str]
) -> Challenger | None:
    """Load the challenger of `settings`, if it names one.

    Raises:
        BundleError: its bundle cannot be loaded.
        ConfigError: it expects other features, or in another order, than the champion: the
            batch is decoded once, for the champion's features.
    """
    if settings.challenger_model_dir is None:
        return None
    directory = ModelDirectory(
        settings.challenger_model_dir,
        on_refused=lambda _path, _reason: metrics.model_reloads.labels("refused").inc(),
        load=load_scorer,
    )
    model = directory.first()
    if tuple(model.scorer.feature_names) != tuple(champion_features):
        raise ConfigError(
            f"the challenger {model.path} expects features {list(model.scorer.feature_names)}, "
            f"not the champion's {list(champion_features)}: both must score the same columns"
        )
    log_event(
        "challenger_loaded",
        logging.INFO,
        model_version=model.version,
        model_path=str(model.path),
        alert_topic=settings.challenger_alert_topic,
    )
    watch = ModelWatch(directory, model, settings.reload_interval)
    return Challenger(model, metrics, settings.top_features, watch)
