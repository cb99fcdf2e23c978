"""Options from flags and FRAUD_* variables, Kafka passthrough, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.__main__ import build_parser, main
from consumer.config import Secret, consumer_config, producer_config
from consumer.errors import ConfigError
from consumer.options import follow_settings, replay_settings, run_settings

REQUIRED = [
    "--bootstrap-servers",
    "b:9092",
    "--model-dir",
    "m",
    "--input-topic",
    "in",
    "--alert-topic",
    "al",
    "--dlq-topic",
    "dl",
    "--group-id",
    "g",
]


def parse(*argv):
    return build_parser().parse_args(list(argv))


def test_flags_become_settings_with_defaults_for_the_rest():
    settings = run_settings(parse("run", *REQUIRED, "--batch-size", "50"), {})
    assert settings.kafka.bootstrap_servers == "b:9092"
    assert settings.model_dir == Path("m")
    assert (settings.input_topic, settings.alert_topic, settings.dlq_topic) == ("in", "al", "dl")
    assert settings.batch_size == 50
    assert settings.scores_topic is None
    assert settings.metrics_port == 9400


def test_every_option_can_come_from_the_environment_and_flags_win():
    env = {
        "FRAUD_BOOTSTRAP_SERVERS": "env:1",
        "FRAUD_MODEL_DIR": "/bundle",
        "FRAUD_INPUT_TOPIC": "i",
        "FRAUD_ALERT_TOPIC": "a",
        "FRAUD_DLQ_TOPIC": "d",
        "FRAUD_GROUP_ID": "grp",
        "FRAUD_SCORES_TOPIC": "s",
        "FRAUD_METRICS_PORT": "9999",
        "FRAUD_COMMIT_INTERVAL": "0",
    }
    settings = run_settings(parse("run", "--group-id", "flag-group"), env)
    assert settings.kafka.bootstrap_servers == "env:1"
    assert settings.group_id == "flag-group"
    assert (settings.scores_topic, settings.metrics_port, settings.commit_interval) == (
        "s",
        9999,
        0,
    )


def test_kafka_settings_pass_through_with_secrets_masked():
    env = {"FRAUD_KAFKA_SASL_MECHANISM": "PLAIN", "FRAUD_KAFKA_SASL_PASSWORD": "hunter2"}
    args = parse(
        "run",
        *REQUIRED,
        "--kafka-config",
        "security.protocol=SASL_SSL",
        "--kafka-config",
        "sasl.username=alice",
    )
    settings = run_settings(args, env)
    config = consumer_config(settings)
    assert config["sasl.mechanism"] == "PLAIN"
    assert config["sasl.password"] == "hunter2"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["enable.auto.commit"] is False and config["enable.auto.offset.store"] is False
    assert producer_config(settings)["sasl.username"] == "alice"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.kafka.redacted())
    assert isinstance(dict(settings.kafka.extra)["sasl.password"], Secret)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (REQUIRED[:-2], {}, "--group-id (or FRAUD_GROUP_ID) is required"),
        (REQUIRED, {"FRAUD_BATCH_SIZE": "many"}, "FRAUD_BATCH_SIZE='many' is invalid"),
        ([*REQUIRED, "--batch-size", "0"], {}, "batch-size must be positive"),
        ([*REQUIRED, "--scores-topic", "al"], {}, "topics must all differ"),
        ([*REQUIRED, "--kafka-config", "novalue"], {}, "must look like KEY=VALUE"),
        ([*REQUIRED, "--auto-offset-reset", "middle"], {}, "auto-offset-reset must be one of"),
        ([*REQUIRED, "--auto-offset-reset", "error"], {}, "auto-offset-reset must be one of"),
        ([*REQUIRED, "--kafka-config", "acks=1"], {}, "acks cannot be overridden"),
        ([*REQUIRED, "--kafka-config", "group.id=x"], {}, "group.id cannot be overridden"),
        (REQUIRED, {"FRAUD_KAFKA_ENABLE_AUTO_COMMIT": "true"}, "enable.auto.commit cannot be"),
        (REQUIRED, {"FRAUD_KAFKA_ENABLE_AUTO_OFFSET_STORE": "true"}, "enable.auto.offset.store"),
        (REQUIRED, {"FRAUD_KAFKA_ENABLE_IDEMPOTENCE": "false"}, "enable.idempotence cannot be"),
    ],
)
def test_mistakes_are_one_clear_sentence(argv, env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_settings(parse("run", *argv), env)


def test_user_errors_exit_2_without_a_traceback(capsys, tmp_path):
    assert main(["run", *REQUIRED[:-2]], env={}) == 2
    assert capsys.readouterr().err.strip() == "error: --group-id (or FRAUD_GROUP_ID) is required"
    argv = ["run", *REQUIRED]
    argv[argv.index("m")] = str(tmp_path / "missing")
    assert main(argv, env={}) == 2
    assert "no model bundle here" in capsys.readouterr().err


def test_a_setting_that_would_weaken_delivery_exits_2_with_one_sentence(capsys):
    assert main(["run", *REQUIRED], env={"FRAUD_KAFKA_ENABLE_AUTO_COMMIT": "true"}) == 2
    assert capsys.readouterr().err.startswith(
        "error: Kafka client setting enable.auto.commit cannot be overridden"
    )


@pytest.mark.parametrize(
    ("argv", "env"), [(["--log-level", "verbose"], {}), ([], {"FRAUD_LOG_LEVEL": "loud"})]
)
def test_an_unknown_log_level_exits_2_with_one_sentence(capsys, argv, env):
    assert main(["run", *REQUIRED, *argv], env=env) == 2
    assert "is not one of debug, info, warning, error" in capsys.readouterr().err


def test_replay_and_alerts_settings():
    replay = replay_settings(
        parse("replay", "--topic", "t", "--data", "x.csv", "--loop"),
        {"FRAUD_BOOTSTRAP_SERVERS": "b:1", "FRAUD_RATE": "50"},
    )
    assert (replay.rate, replay.loop, replay.limit, replay.progress) == (50.0, True, None, True)
    follow = follow_settings(
        parse("alerts", "--bootstrap-servers", "b:1", "--topic", "a"),
        {"FRAUD_FROM_BEGINNING": "true", "FRAUD_LIMIT": "3"},
    )
    assert (follow.from_beginning, follow.limit, follow.output_json) == (True, 3, False)


def test_the_schema_registry_and_its_client_settings_pass_through_with_secrets_masked():
    env = {
        "FRAUD_SCHEMA_REGISTRY_URL": "https://bob:pw1@registry:8081",
        "FRAUD_REGISTRY_BASIC_AUTH_USER_INFO": "alice:hunter2",
        "FRAUD_REGISTRY_TIMEOUT": "2.5",
    }
    args = parse("run", *REQUIRED, "--registry-config", "max.retries=3", "--output-format", "avro")
    settings = run_settings(args, env)
    assert settings.schema_registry is not None and settings.output_format == "avro"
    config = settings.schema_registry.client_config()
    assert config == {
        "url": "https://bob:pw1@registry:8081",
        "basic.auth.user.info": "alice:hunter2",
        "timeout": 2.5,
        "max.retries": 3,
    }
    shown = str(settings.schema_registry.redacted()) + repr(settings)
    assert "hunter2" not in shown and "pw1" not in shown
    assert settings.schema_registry.redacted()["url"] == "https://**********@registry:8081"


def test_without_a_registry_url_the_registry_defaults_bound_nothing_and_avro_is_refused():
    assert run_settings(parse("run", *REQUIRED), {}).schema_registry is None
    with pytest.raises(ConfigError, match="no --schema-registry-url"):
        run_settings(parse("run", *REQUIRED, "--registry-config", "timeout=1"), {})
    with pytest.raises(ConfigError, match="avro needs --schema-registry-url"):
        run_settings(parse("run", *REQUIRED, "--output-format", "avro"), {})
    with pytest.raises(ConfigError, match="format must be one of json, avro"):
        replay_settings(
            parse("replay", "--bootstrap-servers", "b", "--topic", "t", "--data", "d",
                  "--format", "protobuf"), {},
        )  # fmt: skip
    with pytest.raises(ConfigError, match="is not a number"):
        run_settings(parse("run", *REQUIRED, "--schema-registry-url", "http://r",
                           "--registry-config", "timeout=soon"), {})  # fmt: skip


def test_a_registry_lookup_never_waits_forever_by_default():
    args = parse("replay", "--bootstrap-servers", "b", "--topic", "t", "--data", "d",
                 "--format", "avro", "--schema-registry-url", "http://r")  # fmt: skip
    settings = replay_settings(args, {})
    assert settings.format == "avro"
    assert settings.schema_registry is not None
    assert settings.schema_registry.client_config() == {
        "url": "http://r",
        "timeout": 5,
        "max.retries": 0,
    }
