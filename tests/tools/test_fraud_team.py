"""The demo's fraud team: who gets a verdict, saying what, and when."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from fraud_team import FraudTeam, verdict  # noqa: E402


def test_alerted_transactions_are_reviewed_once_and_frauds_charged_back_late():
    team = FraudTeam(analyst_delay=2.0, chargeback_delay=5.0)
    team.transaction("caught", fraud=True, at=0.0)
    team.transaction("missed", fraud=True, at=0.0)
    team.transaction("cleared", fraud=False, at=0.0)
    team.transaction("quiet", fraud=False, at=0.0)
    team.alert("caught", at=1.0)
    team.alert("cleared", at=1.0)
    team.alert("cleared", at=1.2)  # the challenger's alert on the same transaction
    team.alert("early", at=1.0)  # read before its transaction, on another topic
    assert team.due(2.9) == []
    assert team.due(3.0) == [("caught", True, "analyst"), ("cleared", False, "analyst")]
    assert team.due(5.0) == [("caught", True, "chargeback"), ("missed", True, "chargeback")]
    assert team.pending == 0
    team.transaction("early", fraud=False, at=1.5)
    assert team.due(3.4) == [] and team.due(3.5) == [("early", False, "analyst")]


def test_a_verdict_reads_as_the_labels_topic_takes_it():
    assert orjson.loads(verdict("t", True, "chargeback", 12.5)) == {
        "transaction_id": "t",
        "fraud": True,
        "source": "chargeback",
        "labelled_at": 12.5,
    }
