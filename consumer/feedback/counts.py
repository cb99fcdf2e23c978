"""The counts the feedback join makes: one class per Prometheus counter, its fields the labels."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AlertCount:
    """An alert with a verdict: fraud_feedback_alerts_total{role, model_version, stage, verdict}."""

    role: str
    model_version: str
    stage: str
    verdict: str


@dataclass(frozen=True, slots=True)
class FraudCount:
    """A fraud verdict, alerted by the role or not: fraud_feedback_frauds_total{role, caught}."""

    role: str
    caught: str  # "true" or "false", as the label reads


@dataclass(frozen=True, slots=True)
class RepeatCount:
    """A verdict after the first: fraud_feedback_repeated_verdicts_total{first, later}."""

    first: str
    later: str


@dataclass(frozen=True, slots=True)
class LateAlertCount:
    """An alert read after its role was settled as missed: fraud_feedback_late_alerts_total."""

    role: str
    verdict: str


@dataclass(frozen=True, slots=True)
class EvictedCount:
    """An entry forgotten before its horizon, the ledger being full: ..._evicted_total."""


Count = AlertCount | FraudCount | RepeatCount | LateAlertCount | EvictedCount
EVICTED = EvictedCount()
