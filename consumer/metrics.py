"""Every Prometheus metric of the consumer, defined in one place."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from consumer import avro_schema, messages
from consumer.drift import ScoreWindow
from training.scoring.baseline import ScoreBaseline

BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SCORE_BUCKETS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 50.0, 100.0, 1000.0)


class Metrics:
    """The consumer's metrics, registered in `registry` (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY):
        self.transactions_scored = Counter(
            "fraud_transactions_scored", "Transactions scored.", registry=registry
        )
        self.alerts = Counter("fraud_alerts", "Alerts published.", registry=registry)
        self.invalid_messages = Counter(
            "fraud_invalid_messages",
            "Messages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        # Export zeros, so rate() works from the first bad message.
        for reason in messages.REASONS + avro_schema.REASONS:
            self.invalid_messages.labels(reason)
        self.scoring_batch_seconds = Histogram(
            "fraud_scoring_batch_seconds",
            "Time to decode and score one micro-batch.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.end_to_end_latency_seconds = BatchHistogram(
            "fraud_end_to_end_latency_seconds",
            "From event time (else broker timestamp) to the alert acknowledged by the broker.",
            LATENCY_BUCKETS,
            registry,
        )
        self.anomaly_score = BatchHistogram(
            "fraud_anomaly_score",
            "Anomaly scores of scored transactions.",
            SCORE_BUCKETS,
            registry,
        )
        self.consumer_lag_messages = Gauge(
            "fraud_consumer_lag_messages",
            "Messages behind the partition's high watermark.",
            ["topic", "partition"],
            registry=registry,
        )
        self.model_info = Gauge(
            "fraud_model_info",
            "The loaded model; value 1.",
            ["model_version"],
            registry=registry,
        )
        self.commits = Counter(
            "fraud_offset_commits", "Offset commits, by outcome.", ["outcome"], registry=registry
        )
        self.alert_threshold = Gauge(
            "fraud_alert_threshold",
            "The loaded model's threshold: a transaction alerts when its score is above it.",
            ["model_version"],
            registry=registry,
        )
        self.expected_alert_ratio = Gauge(
            "fraud_expected_alert_ratio",
            "Share of its validation split the loaded model alerted on: the alert ratio to expect.",
            ["model_version"],
            registry=registry,
        )
        self.alert_delivery_failures = Counter(
            "fraud_alert_delivery_failures",
            "Alerts the broker did not acknowledge.",
            registry=registry,
        )
        self.score_window = ScoreWindowMetrics(registry)
        self.out_of_range = Counter(
            "fraud_out_of_range",
            "Values far outside their feature's training range, by feature: each one alerts.",
            ["feature"],
            registry=registry,
        )
        self.model_reloads = Counter(
            "fraud_model_reloads",
            "Newer model bundles found in the model directory, by outcome: loaded or refused.",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("loaded", "refused"):
            self.model_reloads.labels(outcome)
        self.schema_registry_unavailable = Counter(
            "fraud_schema_registry_unavailable",
            "Batches put back because the Schema Registry could not be asked for a new schema "
            "id (each try counts; the input waits, nothing is dead-lettered).",
            registry=registry,
        )
        # Per role (champion, challenger): which model plays it, what it promised, what it did.
        self.model_role_info = Gauge(
            "fraud_model_role_info",
            "The model playing each role (champion: its alerts are published; challenger: "
            "scored in the shadow); value 1.",
            ["role", "model_version"],
            registry=registry,
        )
        self.validation_precision = Gauge(
            "fraud_model_validation_precision",
            "Precision of the model's alerts on its validation split at the production fraud "
            "rate (from its bundle), by role: what its alerts' precision on verdicts should be.",
            ["role", "model_version"],
            registry=registry,
        )
        self.model_alerts = Counter(
            "fraud_model_alerts",
            "Alerts the broker acknowledged, by role and model version: the champion's on the "
            "alert topic, the challenger's would-be alerts on its own topic.",
            ["role", "model_version"],
            registry=registry,
        )
        self._role_versions: dict[str, str] = {}

    def describe_model(
        self,
        version: str,
        threshold: float,
        expected_alert_ratio: float | None,
        baseline: ScoreBaseline | None,
    ) -> None:
        """Export the model now scoring and start a fresh drift window for it."""
        for gauge in (self.model_info, self.alert_threshold, self.expected_alert_ratio):
            gauge.clear()
        self.model_info.labels(version).set(1)
        self.alert_threshold.labels(version).set(threshold)
        if expected_alert_ratio is not None:
            self.expected_alert_ratio.labels(version).set(expected_alert_ratio)
        self.score_window.window = ScoreWindow(baseline, threshold)

    def observe_out_of_range(self, outside: np.ndarray | None, names: tuple[str, ...]) -> None:
        """Count a batch's values far outside their training range, by feature."""
        if outside is None:
            return
        for j in np.flatnonzero(outside.any(axis=0)):
            self.out_of_range.labels(names[j]).inc(int(outside[:, j].sum()))

    def describe_role(self, role: str, version: str, validation_precision: float | None) -> None:
        """Export the model now playing `role`, replacing the one that played it before."""
        previous = self._role_versions.get(role)
        if previous is not None:
            for gauge in (self.model_role_info, self.validation_precision):
                with contextlib.suppress(KeyError):
                    gauge.remove(role, previous)
        self._role_versions[role] = version
        self.model_role_info.labels(role, version).set(1)
        if validation_precision is not None:
            self.validation_precision.labels(role, version).set(validation_precision)

    def observe_scores(self, scores: np.ndarray) -> None:
        """Count a batch's scores into the score histogram and the drift window."""
        self.anomaly_score.observe_many(scores)
        window = self.score_window.window
        if window is not None:
            window.observe(scores)


class ScoreWindowMetrics(Collector):
    """Export the drift window's PSI and alert ratio, computed at scrape time.

    Nothing is exported before a model is described or while the window holds too few scores;
    the drift needs a bundle with a score baseline.
    """

    def __init__(self, registry: CollectorRegistry):
        self.window: ScoreWindow | None = None
        registry.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        window = self.window
        if window is None:
            return
        drift = window.drift()
        if drift is not None:
            yield GaugeMetricFamily(
                "fraud_score_drift",
                "Population stability index of the last scores against the model's held-out "
                "normal scores.",
                value=drift,
            )
        ratio = window.alert_ratio()
        if ratio is not None:
            yield GaugeMetricFamily(
                "fraud_window_alert_ratio",
                "Share of the last scores (the drift window) that alerted.",
                value=ratio,
            )


class BatchHistogram(Collector):
    """A histogram observed a whole numpy array at a time (a Python call per value is too slow).

    >>> registry = CollectorRegistry()
    >>> h = BatchHistogram("demo_seconds", "Demo.", (1.0, 2.0), registry)
    >>> h.observe_many(np.array([0.5, 1.5, 9.0]))
    >>> registry.get_sample_value("demo_seconds_bucket", {"le": "2.0"})
    2.0
    """

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ):
        self.name = name
        self.documentation = documentation
        self.bounds = np.asarray(buckets, dtype=np.float64)
        self.counts = np.zeros(len(buckets) + 1, dtype=np.int64)  # last one is +Inf
        self.total = 0.0
        self.lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: np.ndarray) -> None:
        """Count every finite value of `values` into its bucket."""
        values = values[np.isfinite(values)]
        slots = np.searchsorted(self.bounds, values, side="left")
        counts = np.bincount(slots, minlength=len(self.counts))
        with self.lock:
            self.counts += counts
            self.total += float(values.sum())

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self.lock:
            cumulative = [float(c) for c in np.cumsum(self.counts)]
            total = self.total
        bounds = [*(str(float(b)) for b in self.bounds), "+Inf"]
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], list(zip(bounds, cumulative, strict=True)), total)
        yield family
