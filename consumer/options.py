"""Command-line options and their FRAUD_* environment variables, resolved into frozen settings.

A flag wins over its environment variable, which wins over the settings' default. Kafka client
settings pass through as repeated `--kafka-config KEY=VALUE` or `FRAUD_KAFKA_KEY_PARTS=VALUE`
(`FRAUD_KAFKA_SASL_MECHANISM` → `sasl.mechanism`), without this code knowing them; Schema
Registry client settings likewise as `--registry-config KEY=VALUE` or `FRAUD_REGISTRY_KEY_PARTS`
(`FRAUD_REGISTRY_BASIC_AUTH_USER_INFO` → `basic.auth.user.info`).
"""

from __future__ import annotations

import argparse
import math
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consumer.config import (
    FeedbackSettings,
    FollowSettings,
    KafkaSettings,
    LabelledSettings,
    RegistrySettings,
    ReplaySettings,
    RunSettings,
    kafka_setting,
    registry_setting,
)
from consumer.errors import ConfigError

ENV_PREFIX = "FRAUD_"
KAFKA_ENV_PREFIX = "FRAUD_KAFKA_"
REGISTRY_ENV_PREFIX = "FRAUD_REGISTRY_"
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off", "")
LOG_LEVELS = ("debug", "info", "warning", "error")


def parse_bool(text: str) -> bool:
    """Read a boolean environment value.

    >>> parse_bool("yes"), parse_bool("0")
    (True, False)
    """
    if text.strip().lower() in TRUE:
        return True
    if text.strip().lower() in FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Read a duration: seconds, or a number with a unit s, m, h or d.

    >>> parse_duration("15m"), parse_duration("60d"), parse_duration("2.5")
    (900.0, 5184000.0, 2.5)
    """
    text = text.strip().lower()
    unit = DURATION_UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit is not None else text
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (e.g. 90, 15m, 60d)") from None
    if not math.isfinite(seconds):
        raise ValueError(f"{text!r} is not a finite duration")
    return seconds


@dataclass(frozen=True)
class Option:
    """One setting: `--name-with-dashes` on the command line, `FRAUD_NAME` in the environment."""

    name: str
    parse: Callable[[str], Any]
    help: str
    required: bool = False
    switch: bool = False  # a flag without value (store_true)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


BOOTSTRAP = Option("bootstrap_servers", str, "Kafka bootstrap servers, host:port[,...]", True)
LOG_LEVEL = Option("log_level", str, "debug, info, warning or error (default info)")
SCHEMA_REGISTRY_URL = Option(
    "schema_registry_url",
    str,
    "Schema Registry URL (e.g. http://host:8081): values framed for it (first byte 0) are read "
    "with their writer's schema, Avro or JSON Schema; without it they are dead-lettered",
)

RUN_OPTIONS = (
    BOOTSTRAP,
    Option(
        "model_dir",
        Path,
        "a model bundle written by `python -m training fit`, or a directory of bundles: the "
        "newest valid one scores, and a newer one is switched to when it appears",
        True,
    ),
    Option("input_topic", str, "topic of transactions to score", True),
    Option("alert_topic", str, "topic for alerts", True),
    Option("dlq_topic", str, "dead-letter topic for messages that cannot be scored", True),
    Option("group_id", str, "consumer group id", True),
    Option("scores_topic", str, "optional topic with a record per scored transaction"),
    Option("metrics_host", str, "address of /metrics, /healthz, /readyz (default 0.0.0.0)"),
    Option("metrics_port", int, "port of /metrics, /healthz, /readyz (default 9400; 0 any)"),
    Option("batch_size", int, "most messages per micro-batch (default 1000)"),
    Option("batch_timeout", float, "seconds to wait to fill a batch (default 0.5)"),
    Option("commit_interval", float, "seconds between offset commits; 0 every batch (default 1)"),
    Option("flush_timeout", float, "seconds to wait for broker acks before failing (default 30)"),
    Option("max_message_bytes", int, "larger messages are dead-lettered (default 65536)"),
    Option("top_features", int, "features explaining each alert (default 3)"),
    Option(
        "auto_offset_reset", str, "where a new group starts: earliest, latest (default earliest)"
    ),
    Option(
        "exactly_once",
        parse_bool,
        "one Kafka transaction per batch: outputs and input offsets (read them read_committed)",
        switch=True,
    ),
    Option(
        "member_id",
        str,
        "this member's stable name in the group, for its transactional.id (default: host name)",
    ),
    Option(
        "reload_interval",
        float,
        "seconds between looks for a newer bundle in a directory of bundles (default 10)",
    ),
    SCHEMA_REGISTRY_URL,
    Option(
        "output_format",
        str,
        "json or avro: alerts and score records as Avro, their schemas registered under "
        "TOPIC-value in the Schema Registry (default json)",
    ),
    Option(
        "challenger_model_dir",
        Path,
        "a second bundle (or directory of bundles, reloaded likewise) that scores every "
        "transaction in the shadow: its alerts go to --challenger-alert-topic only",
    ),
    Option(
        "challenger_alert_topic",
        str,
        'topic for the challenger\'s would-be alerts, marked "role": "challenger"',
    ),
    LOG_LEVEL,
)
REPLAY_OPTIONS = (
    BOOTSTRAP,
    Option("topic", str, "topic to feed", True),
    Option("data", Path, "transactions CSV (ULB schema or any numeric columns)", True),
    Option("rate", float, "messages per second (default: as fast as possible)"),
    Option("limit", int, "stop after this many messages"),
    Option("loop", parse_bool, "start over at the end of the file", switch=True),
    Option("no_progress", parse_bool, "do not draw the progress bar", switch=True),
    Option(
        "format",
        str,
        "json or avro: Avro framed for the Schema Registry, the schema (from the CSV's columns) "
        "registered under TOPIC-value (default json)",
    ),
    SCHEMA_REGISTRY_URL,
    LOG_LEVEL,
)
ALERTS_OPTIONS = (
    BOOTSTRAP,
    Option("topic", str, "alert (or scores) topic to follow", True),
    Option("from_beginning", parse_bool, "print alerts already in the topic too", switch=True),
    Option("limit", int, "stop after this many alerts"),
    Option("idle_timeout", float, "stop after this many seconds without an alert"),
    Option("json", parse_bool, "print the raw JSON records, one per line", switch=True),
    LOG_LEVEL,
)

FEEDBACK_OPTIONS = (
    BOOTSTRAP,
    Option("labels_topic", str, "topic of verdicts, keyed by transaction id", True),
    Option("alert_topic", str, "the champion's alert topic (`run --alert-topic`)", True),
    Option(
        "challenger_alert_topic",
        str,
        "the challenger's alert topic (`run --challenger-alert-topic`), if one runs",
    ),
    Option(
        "changelog_topic",
        str,
        "compacted topic of the join's state, as many partitions as the labels topic",
        True,
    ),
    Option("dlq_topic", str, "dead-letter topic for verdicts that do not read", True),
    Option("group_id", str, "consumer group id of the feedback processes", True),
    Option("metrics_host", str, "address of /metrics, /healthz, /readyz (default 0.0.0.0)"),
    Option("metrics_port", int, "port of /metrics, /healthz, /readyz (default 9401; 0 any)"),
    Option("batch_size", int, "most verdicts per batch (default 1000)"),
    Option("batch_timeout", float, "seconds to wait for verdicts (default 0.2)"),
    Option("commit_interval", float, "seconds between transactions; 0 every batch (default 1)"),
    Option("transaction_timeout", float, "seconds each transactional call may take (default 30)"),
    Option("max_message_bytes", int, "larger verdicts are dead-lettered (default 65536)"),
    Option(
        "grace",
        parse_duration,
        "how long after a verdict arrived a role's alert may still come (default 15m)",
    ),
    Option(
        "horizon",
        parse_duration,
        "how long alerts and verdicts are remembered (default 60d, longer than chargebacks)",
    ),
    Option("max_alerts", int, "alerts held in memory, oldest forgotten first (default 5000000)"),
    Option(
        "max_verdicts",
        int,
        "transactions held per labels partition, oldest forgotten first (default 2000000)",
    ),
    Option(
        "member_id",
        str,
        "this member's stable name in the group, for its transactional.id (default: host name)",
    ),
    LOG_LEVEL,
)
LABELLED_OPTIONS = (
    BOOTSTRAP,
    Option("transactions_topic", str, "topic of transactions (as `run` reads them)", True),
    Option("labels_topic", str, "topic of verdicts", True),
    Option("out", Path, "the labelled CSV to write (a `Class` column of 0 and 1)", True),
    Option(
        "maturity",
        parse_duration,
        "a transaction without a verdict is written as legitimate once this old (default 30d)",
    ),
    Option("read_timeout", float, "seconds without progress before reading a topic fails (30)"),
    LOG_LEVEL,
)


def add_options(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    """Declare the options on `parser`, each defaulting to None so the environment can fill it."""
    for option in options:
        required = " (required)" if option.required else ""
        text = f"{option.help}{required} [env {option.env}]"
        if option.switch:
            parser.add_argument(
                option.flag, dest=option.name, action="store_true", default=None, help=text
            )
        else:
            parser.add_argument(option.flag, dest=option.name, type=option.parse, help=text)
    parser.add_argument(
        "--kafka-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="librdkafka setting passed to every client, repeatable (e.g. security.protocol="
        f"SASL_SSL) [env {KAFKA_ENV_PREFIX}KEY_PARTS, e.g. FRAUD_KAFKA_SASL_MECHANISM]",
    )
    if SCHEMA_REGISTRY_URL in options:
        parser.add_argument(
            "--registry-config",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="Schema Registry client setting, repeatable (e.g. basic.auth.user.info=USER:"
            f"SECRET) [env {REGISTRY_ENV_PREFIX}KEY_PARTS, e.g. "
            "FRAUD_REGISTRY_BASIC_AUTH_USER_INFO]",
        )


def resolve(
    options: Sequence[Option], args: argparse.Namespace, env: Mapping[str, str]
) -> dict[str, Any]:
    """Return {name: value} for every option given as a flag or environment variable.

    Raises:
        ConfigError: a required option is missing or an environment value does not parse.
    """
    values: dict[str, Any] = {}
    for option in options:
        value = getattr(args, option.name, None)
        if value is None and option.env in env:
            try:
                value = option.parse(env[option.env])
            except ValueError as exc:
                raise ConfigError(f"{option.env}={env[option.env]!r} is invalid ({exc})") from None
        if value is not None:
            values[option.name] = value
        elif option.required:
            raise ConfigError(f"{option.flag} (or {option.env}) is required")
    return values


def kafka_settings(
    values: dict[str, Any], args: argparse.Namespace, env: Mapping[str, str]
) -> KafkaSettings:
    """Return the bootstrap servers plus passthrough client settings, flags over environment."""
    extra: dict[str, Any] = {}
    for name, value in sorted(env.items()):
        if name.startswith(KAFKA_ENV_PREFIX) and len(name) > len(KAFKA_ENV_PREFIX):
            key = name[len(KAFKA_ENV_PREFIX) :].lower().replace("_", ".")
            extra.update([kafka_setting(key, value)])
    for item in args.kafka_config:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--kafka-config {item!r} must look like KEY=VALUE")
        extra.update([kafka_setting(key, value)])
    return KafkaSettings(values.pop("bootstrap_servers"), tuple(extra.items()))


def registry_settings(
    values: dict[str, Any], args: argparse.Namespace, env: Mapping[str, str]
) -> RegistrySettings | None:
    """Return the Schema Registry's URL plus passthrough client settings, or None without a URL.

    Raises:
        ConfigError: client settings are given without a URL, or one does not parse.
    """
    url = values.pop("schema_registry_url", None)
    extra: dict[str, Any] = {}
    for name, value in sorted(env.items()):
        if name.startswith(REGISTRY_ENV_PREFIX) and len(name) > len(REGISTRY_ENV_PREFIX):
            key = name[len(REGISTRY_ENV_PREFIX) :].lower().replace("_", ".")
            extra.update([registry_setting(key, value)])
    for item in getattr(args, "registry_config", []):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--registry-config {item!r} must look like KEY=VALUE")
        extra.update([registry_setting(key, value)])
    if url is None:
        if extra:
            raise ConfigError(
                "Schema Registry settings are given but no --schema-registry-url "
                f"(or {SCHEMA_REGISTRY_URL.env})"
            )
        return None
    return RegistrySettings(url, tuple(extra.items()))


def run_settings(args: argparse.Namespace, env: Mapping[str, str]) -> RunSettings:
    """Build the settings of `run` from flags and environment."""
    values = resolve(RUN_OPTIONS, args, env)
    values.pop("log_level", None)
    values.setdefault("member_id", socket.gethostname())
    registry = registry_settings(values, args, env)
    return RunSettings(kafka=kafka_settings(values, args, env), schema_registry=registry, **values)


def replay_settings(args: argparse.Namespace, env: Mapping[str, str]) -> ReplaySettings:
    """Build the settings of `replay` from flags and environment."""
    values = resolve(REPLAY_OPTIONS, args, env)
    values.pop("log_level", None)
    values["progress"] = not values.pop("no_progress", False)
    registry = registry_settings(values, args, env)
    return ReplaySettings(
        kafka=kafka_settings(values, args, env), schema_registry=registry, **values
    )


def follow_settings(args: argparse.Namespace, env: Mapping[str, str]) -> FollowSettings:
    """Build the settings of `alerts` from flags and environment."""
    values = resolve(ALERTS_OPTIONS, args, env)
    values.pop("log_level", None)
    values["output_json"] = values.pop("json", False)
    return FollowSettings(kafka=kafka_settings(values, args, env), **values)


def feedback_settings(args: argparse.Namespace, env: Mapping[str, str]) -> FeedbackSettings:
    """Build the settings of `feedback` from flags and environment."""
    values = resolve(FEEDBACK_OPTIONS, args, env)
    values.pop("log_level", None)
    values.setdefault("member_id", socket.gethostname())
    return FeedbackSettings(kafka=kafka_settings(values, args, env), **values)


def labelled_settings(args: argparse.Namespace, env: Mapping[str, str]) -> LabelledSettings:
    """Build the settings of `labelled` from flags and environment."""
    values = resolve(LABELLED_OPTIONS, args, env)
    values.pop("log_level", None)
    return LabelledSettings(kafka=kafka_settings(values, args, env), **values)


def log_level(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """Return the log level from the flag, else FRAUD_LOG_LEVEL, else info.

    Raises:
        ConfigError: the level is not one of LOG_LEVELS.
    """
    level = args.log_level or env.get(LOG_LEVEL.env) or "info"
    if level.lower() not in LOG_LEVELS:
        raise ConfigError(f"log level {level!r} is not one of {', '.join(LOG_LEVELS)}")
    return level.lower()
