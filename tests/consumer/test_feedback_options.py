"""Options of `feedback` and `labelled`: flags, FRAUD_* variables, durations, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.__main__ import build_parser, main
from consumer.config import feedback_consumer_config, feedback_producer_config, reader_config
from consumer.errors import ConfigError
from consumer.options import feedback_settings, labelled_settings, parse_duration

FEEDBACK = [
    "--bootstrap-servers", "b:9092", "--labels-topic", "labels", "--alert-topic", "alerts",
    "--changelog-topic", "changelog", "--dlq-topic", "labels-dlq", "--group-id", "fb",
]  # fmt: skip


def parse(*argv):
    return build_parser().parse_args(list(argv))


def test_feedback_flags_become_settings_with_defaults_for_the_rest():
    settings = feedback_settings(parse("feedback", *FEEDBACK, "--grace", "5m"), {})
    assert settings.grace == 300.0
    assert settings.horizon == 60 * 86400.0
    assert (settings.max_alerts, settings.max_verdicts) == (5_000_000, 2_000_000)
    assert settings.metrics_port == 9401
    assert settings.alert_topics == {"alerts": "champion"}
    assert settings.transactional_id.startswith("fraudstream-feedback-fb-")


def test_every_feedback_option_can_come_from_the_environment():
    env = {
        "FRAUD_BOOTSTRAP_SERVERS": "e:1",
        "FRAUD_LABELS_TOPIC": "l",
        "FRAUD_ALERT_TOPIC": "a",
        "FRAUD_CHALLENGER_ALERT_TOPIC": "c",
        "FRAUD_CHANGELOG_TOPIC": "ch",
        "FRAUD_DLQ_TOPIC": "d",
        "FRAUD_GROUP_ID": "g",
        "FRAUD_HORIZON": "90d",
        "FRAUD_MEMBER_ID": "m1",
        "FRAUD_KAFKA_SASL_PASSWORD": "hunter2",
    }
    settings = feedback_settings(parse("feedback"), env)
    assert settings.alert_topics == {"a": "champion", "c": "challenger"}
    assert settings.horizon == 90 * 86400.0
    assert settings.transactional_id == "fraudstream-feedback-g-m1"
    consumer = feedback_consumer_config(settings)
    assert consumer["isolation.level"] == "read_committed"
    assert consumer["auto.offset.reset"] == "earliest"
    assert consumer["sasl.password"] == "hunter2"
    assert feedback_producer_config(settings)["transactional.id"] == settings.transactional_id
    assert reader_config(settings, "x")["enable.auto.commit"] is False
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (FEEDBACK[:-2], "--group-id (or FRAUD_GROUP_ID) is required"),
        ([*FEEDBACK, "--grace", "61d"], "grace must be 0 or more and shorter than the horizon"),
        ([*FEEDBACK, "--changelog-topic", "labels"], "must all differ"),
        ([*FEEDBACK, "--challenger-alert-topic", "alerts"], "must all differ"),
        ([*FEEDBACK, "--max-alerts", "0"], "max-alerts must be positive"),
    ],
)
def test_feedback_mistakes_are_one_clear_sentence(argv, message, capsys):
    code = main(["feedback", *argv], env={})
    assert code == 2
    assert message in capsys.readouterr().err


def test_durations():
    assert parse_duration("90") == 90.0
    assert parse_duration(" 2h ") == 7200.0
    for bad in ("", "m", "1y", "infd", "nan"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_labelled_settings():
    args = parse(
        "labelled", "--bootstrap-servers", "b:1", "--transactions-topic", "tx",
        "--labels-topic", "labels", "--out", "train.csv", "--maturity", "30d",
    )  # fmt: skip
    settings = labelled_settings(args, {})
    assert (settings.out, settings.maturity) == (Path("train.csv"), 30 * 86400.0)
    with pytest.raises(ConfigError, match="must differ"):
        labelled_settings(parse("labelled", "--transactions-topic", "t", "--labels-topic", "t",
                                "--out", "x"), {"FRAUD_BOOTSTRAP_SERVERS": "b"})  # fmt: skip
