"""Read the alert topics back: what the feedback join needs of each published alert. Pure.

Alerts are the scorer's own output (README, "Alerts"), so a record that does not read is not
dead-lettered: the feedback process counts it by reason and skips it. The role is the alert's
`role` field when it has one (a challenger marks its alerts so), else the role of the topic
it was read from; the stage is the alert's `reasons` joined with "+" ("supervised",
"supervised+autoencoder", "autoencoder").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consumer.errors import InvalidMessageError
from consumer.feedback.verdicts import BAD_FIELD, MISSING_FIELD, json_object
from consumer.messages import NOT_JSON, NOT_OBJECT
from consumer.roles import ROLES

UNKNOWN_STAGE = "unknown"  # alerts written before alerts named the stages that raised them
REASONS = (NOT_JSON, NOT_OBJECT, MISSING_FIELD, BAD_FIELD)


@dataclass(frozen=True, slots=True)
class Alert:
    """One published alert: whose decision it was, by which model and stages, and when."""

    transaction_id: str
    role: str
    model_version: str
    stage: str
    alerted_at: float  # epoch seconds


def decode_alert(value: bytes | None, topic_role: str, fallback_time: float) -> Alert:
    """Decode one alert record.

    Parameters:
        value: the record's value, as the scorer wrote it.
        topic_role: the role of the topic it was read from, used when the alert names none.
        fallback_time: when the alert has no readable `scored_at` (the record's timestamp).

    Raises:
        InvalidMessageError: the value is not an alert (one of REASONS, and a sentence).

    >>> decode_alert(b'{"transaction_id": "t1", "model_version": "v7", "reasons": ["supervised",'
    ...              b' "autoencoder"], "scored_at": "2024-01-01T00:00:00.250Z"}', "champion", 0.0)
    Alert(transaction_id='t1', role='champion', model_version='v7', stage='supervised+autoencoder', alerted_at=1704067200.25)
    """  # noqa: E501 (a doctest's expected output is one line)
    obj = json_object(value)
    return Alert(
        _text(obj, "transaction_id"),
        _role(obj.get("role", topic_role)),
        _text(obj, "model_version"),
        stage_of(obj.get("reasons")),
        _time(obj.get("scored_at"), fallback_time),
    )


def stage_of(reasons: Any) -> str:
    """Return the stages that raised an alert as one label, or "unknown" if it names none.

    >>> stage_of(["supervised", "autoencoder"]), stage_of(["autoencoder"]), stage_of(None)
    ('supervised+autoencoder', 'autoencoder', 'unknown')
    """
    if type(reasons) is not list or not reasons or not all(type(r) is str for r in reasons):
        return UNKNOWN_STAGE
    return "+".join(reasons)


def _text(obj: dict[str, Any], name: str) -> str:
    if name not in obj:
        raise InvalidMessageError(MISSING_FIELD, f"no field {name!r}")
    field = obj[name]
    if type(field) is int and name == "transaction_id":
        return str(field)
    if type(field) is not str or not field:
        raise InvalidMessageError(BAD_FIELD, f"{name} is not a non-empty string")
    return field


def _role(field: Any) -> str:
    if field not in ROLES:
        raise InvalidMessageError(BAD_FIELD, f"role is not one of {', '.join(ROLES)}")
    return str(field)


def _time(field: Any, fallback: float) -> float:
    if type(field) is not str:
        return fallback
    try:
        moment = datetime.fromisoformat(field)
    except ValueError:
        return fallback
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
