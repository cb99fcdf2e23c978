"""Alerts read back from the alert topics: role, version, stage and time of each."""

from __future__ import annotations

import orjson
import pytest

from consumer.errors import InvalidMessageError
from consumer.feedback.alert_records import Alert, decode_alert

# An alert as the scorer writes it (README, "Alerts"), with the stages that raised it.
ALERT = {
    "transaction_id": "creditcard-541",
    "score": 12.87,
    "threshold": 3.47,
    "model_version": "20261128T133420Z-a52a9009",
    "source_topic": "transactions",
    "source_partition": 2,
    "source_offset": 1834,
    "event_time": "2026-11-28T13:38:30.120Z",
    "scored_at": "2026-11-28T13:38:30.727Z",
    "top_features": [{"feature": "V14", "contribution": 7.25, "value": -9.1}],
    "reasons": ["supervised", "autoencoder"],
    "probability": 0.99,
}


def test_a_champion_alert_reads_as_the_scorer_writes_it():
    alert = decode_alert(orjson.dumps(ALERT), "champion", fallback_time=0.0)
    assert alert == Alert(
        "creditcard-541",
        "champion",
        "20261128T133420Z-a52a9009",
        "supervised+autoencoder",
        1795873110.727,
    )


def test_the_alert_names_its_role_else_the_topic_does():
    marked = orjson.dumps(ALERT | {"role": "challenger"})
    assert decode_alert(marked, "champion", 0.0).role == "challenger"
    assert decode_alert(orjson.dumps(ALERT), "challenger", 0.0).role == "challenger"


def test_older_alerts_without_stages_or_time_still_read():
    old = {k: v for k, v in ALERT.items() if k not in ("reasons", "scored_at")}
    alert = decode_alert(orjson.dumps(old | {"transaction_id": 7}), "champion", 42.5)
    assert (alert.transaction_id, alert.stage, alert.alerted_at) == ("7", "unknown", 42.5)
    naive = decode_alert(orjson.dumps(ALERT | {"scored_at": "2026-11-28T13:38:30"}), "champion", 0)
    assert naive.alerted_at == 1795873110.0  # UTC when it has no offset
    bad_time = decode_alert(orjson.dumps(ALERT | {"scored_at": "soon"}), "champion", 9.0)
    assert bad_time.alerted_at == 9.0


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "not_json"),
        (b"{", "not_json"),
        (b"[]", "not_object"),
        (orjson.dumps({k: v for k, v in ALERT.items() if k != "model_version"}), "missing_field"),
        (orjson.dumps(ALERT | {"transaction_id": ""}), "bad_field"),
        (orjson.dumps(ALERT | {"model_version": 3}), "bad_field"),
        (orjson.dumps(ALERT | {"role": "shadow"}), "bad_field"),
    ],
)
def test_an_unreadable_alert_says_why(raw, reason):
    with pytest.raises(InvalidMessageError) as caught:
        decode_alert(raw, "champion", 0.0)
    assert caught.value.reason == reason
