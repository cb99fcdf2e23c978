"""The frozen settings of each command, and their one translation into librdkafka dicts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumer.errors import ConfigError

# Substrings of client setting keys whose values must never be printed or logged
# (the Schema Registry's basic.auth.user.info is "user:password").
SECRET_KEY_PARTS = (
    "password", "secret", "key.pem", "oauthbearer.config", "jaas", "token", "user.info",
)  # fmt: skip
FORMATS = ("json", "avro")
# "error" is left out: the consumer would log a warning every batch instead of starting anywhere.
OFFSET_RESETS = ("earliest", "latest")
# Settings that carry the delivery guarantee (manual offset store and commit after the flush,
# acks from every replica, idempotence) or that have their own option: never passed through.
RESERVED_KEYS = frozenset(
    (
        "group.id",
        "enable.auto.commit",
        "auto.commit.enable",
        "enable.auto.offset.store",
        "acks",
        "request.required.acks",
        "enable.idempotence",
        "transactional.id",
        "isolation.level",
    )
)


@dataclass(frozen=True)
class Secret:
    """A setting value that prints as asterisks; call `reveal()` to hand it to the client."""

    value: str = field(repr=False)

    def reveal(self) -> str:
        return self.value

    def __str__(self) -> str:
        return "**********"

    def __repr__(self) -> str:
        return "Secret('**********')"


def is_secret_key(key: str) -> bool:
    """Tell whether a librdkafka key holds a credential.

    >>> is_secret_key("sasl.password"), is_secret_key("sasl.mechanism")
    (True, False)
    """
    return any(part in key.lower() for part in SECRET_KEY_PARTS)


def kafka_setting(key: str, value: str) -> tuple[str, str | Secret]:
    """Return one passthrough client setting, its value wrapped if it is a secret."""
    key = key.strip()
    if not key or " " in key:
        raise ConfigError(f"invalid Kafka client setting name {key!r}")
    if key.lower() in RESERVED_KEYS:
        raise ConfigError(
            f"Kafka client setting {key} cannot be overridden: the consumer's delivery guarantee"
            " depends on it (set the group with --group-id)"
        )
    return key, Secret(value) if is_secret_key(key) else value


@dataclass(frozen=True)
class KafkaSettings:
    """Where the brokers are, plus client settings (SASL, SSL...) passed through untouched."""

    bootstrap_servers: str
    extra: tuple[tuple[str, str | Secret], ...] = ()

    def client_config(self) -> dict[str, str]:
        """Return the settings every client gets, secrets revealed: for the client only."""
        config = {"bootstrap.servers": self.bootstrap_servers}
        for key, value in self.extra:
            config[key] = value.reveal() if isinstance(value, Secret) else value
        return config

    def redacted(self) -> dict[str, str]:
        """Return the same settings with secrets masked, safe to log."""
        return {"bootstrap.servers": self.bootstrap_servers, **{k: str(v) for k, v in self.extra}}


# The Schema Registry client's numeric settings: confluent-kafka refuses them as text.
REGISTRY_NUMBERS = frozenset(
    ("timeout", "max.retries", "retries.wait.ms", "retries.max.wait.ms", "cache.capacity",
     "cache.latest.ttl.sec")
)  # fmt: skip
# A registry stopped mid-request would otherwise hold the loop forever (the client's default
# is no timeout), and the loop retries a batch itself, with a backoff, without blocking.
REGISTRY_DEFAULTS: dict[str, Any] = {"timeout": 5, "max.retries": 0}
_URL_USER_INFO = re.compile(r"//[^/@]*@")


def registry_setting(key: str, value: str) -> tuple[str, str | int | float | Secret]:
    """Return one passthrough Schema Registry client setting: a number, a secret or text.

    >>> registry_setting("timeout", "2.5"), registry_setting("basic.auth.user.info", "u:p")
    (('timeout', 2.5), ('basic.auth.user.info', Secret('**********')))
    """
    key = key.strip()
    if not key or " " in key:
        raise ConfigError(f"invalid Schema Registry client setting name {key!r}")
    if key.lower() == "url":
        raise ConfigError("set the Schema Registry's URL with --schema-registry-url")
    if key in REGISTRY_NUMBERS:
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"Schema Registry setting {key}={value!r} is not a number") from None
        return key, int(number) if number.is_integer() else number
    return key, Secret(value) if is_secret_key(key) else value


def mask_url(url: str) -> str:
    """Return a URL with any user:password in it masked, safe to log.

    >>> mask_url("https://alice:hunter2@registry:8081/apis/ccompat/v7")
    'https://**********@registry:8081/apis/ccompat/v7'
    """
    return _URL_USER_INFO.sub("//**********@", url)


@dataclass(frozen=True)
class RegistrySettings:
    """Where the Schema Registry is, plus its client's settings (auth, TLS...) passed through."""

    url: str
    extra: tuple[tuple[str, str | int | float | Secret], ...] = ()

    def client_config(self) -> dict[str, Any]:
        """Return the settings of confluent-kafka's SchemaRegistryClient, secrets revealed."""
        config: dict[str, Any] = {"url": self.url, **REGISTRY_DEFAULTS}
        for key, value in self.extra:
            config[key] = value.reveal() if isinstance(value, Secret) else value
        return config

    def redacted(self) -> dict[str, str]:
        """Return the same settings with secrets masked, safe to log."""
        return {
            "url": mask_url(self.url),
            **{k: str(v) for k, v in REGISTRY_DEFAULTS.items()},
            **{k: str(v) for k, v in self.extra},
        }

    def __repr__(self) -> str:  # the URL may hold a user:password
        return f"RegistrySettings(url={mask_url(self.url)!r}, extra={self.extra!r})"

    def __post_init__(self) -> None:
        if not self.url.strip():
            raise ConfigError("schema-registry-url must not be empty")


@dataclass(frozen=True)
class RunSettings:
    """Everything `python -m consumer run` needs; built once, never changed."""

    kafka: KafkaSettings
    model_dir: Path
    input_topic: str
    alert_topic: str
    dlq_topic: str
    group_id: str
    scores_topic: str | None = None
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9400
    batch_size: int = 1000
    batch_timeout: float = 0.5
    commit_interval: float = 1.0
    flush_timeout: float = 30.0
    max_message_bytes: int = 65536
    top_features: int = 3
    auto_offset_reset: str = "earliest"
    exactly_once: bool = False
    member_id: str = "fraudstream"
    reload_interval: float = 10.0
    schema_registry: RegistrySettings | None = None
    output_format: str = "json"
    challenger_model_dir: Path | None = None
    challenger_alert_topic: str | None = None

    @property
    def transactional_id(self) -> str:
        """Return the producer's transactional.id: stable across restarts of one member.

        A restarted member registers the same id, which fences the crashed instance and aborts
        the transaction it left open instead of leaving readers waiting for its timeout.
        """
        return f"fraudstream-{self.group_id}-{self.member_id}"

    def __post_init__(self) -> None:
        for name in ("input_topic", "alert_topic", "dlq_topic", "group_id", "member_id"):
            if not getattr(self, name):
                raise ConfigError(f"{name.replace('_', '-')} must not be empty")
        if (self.challenger_model_dir is None) != (self.challenger_alert_topic is None):
            raise ConfigError(
                "a challenger needs both --challenger-model-dir and --challenger-alert-topic"
            )
        topics = [self.input_topic, self.alert_topic, self.dlq_topic, self.scores_topic]
        topics = [topic for topic in topics + [self.challenger_alert_topic] if topic]
        if len(set(topics)) != len(topics):
            raise ConfigError(
                "input, alert, dead-letter, scores and challenger alert topics must all differ"
            )
        _positive(self, "batch_size", "batch_timeout", "flush_timeout", "max_message_bytes")
        _positive(self, "top_features", "reload_interval")
        if self.commit_interval < 0:
            raise ConfigError("commit-interval must be 0 (every batch) or more")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics-port {self.metrics_port} is not a TCP port")
        if self.auto_offset_reset not in OFFSET_RESETS:
            raise ConfigError(f"auto-offset-reset must be one of {', '.join(OFFSET_RESETS)}")
        _avro_needs_registry("output-format", self.output_format, self.schema_registry)


@dataclass(frozen=True)
class ReplaySettings:
    """Everything `python -m consumer replay` needs."""

    kafka: KafkaSettings
    topic: str
    data: Path
    rate: float | None = None
    limit: int | None = None
    loop: bool = False
    progress: bool = True
    format: str = "json"
    schema_registry: RegistrySettings | None = None

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate <= 0:
            raise ConfigError("rate must be positive (messages per second); omit it for full speed")
        if self.limit is not None and self.limit < 0:
            raise ConfigError("limit must be 0 or more")
        _avro_needs_registry("format", self.format, self.schema_registry)


@dataclass(frozen=True)
class FollowSettings:
    """Everything `python -m consumer alerts` needs."""

    kafka: KafkaSettings
    topic: str
    from_beginning: bool = False
    limit: int | None = None
    idle_timeout: float | None = None
    output_json: bool = False


@dataclass(frozen=True)
class FeedbackSettings:
    """Everything `python -m consumer feedback` needs (docs/feedback.md)."""

    kafka: KafkaSettings
    labels_topic: str
    alert_topic: str
    changelog_topic: str
    dlq_topic: str
    group_id: str
    challenger_alert_topic: str | None = None
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9401
    batch_size: int = 1000
    batch_timeout: float = 0.2
    commit_interval: float = 1.0
    transaction_timeout: float = 30.0
    max_message_bytes: int = 65536
    grace: float = 15 * 60.0
    horizon: float = 60 * 86400.0
    max_alerts: int = 5_000_000
    max_verdicts: int = 2_000_000
    member_id: str = "fraudstream"

    @property
    def transactional_id(self) -> str:
        """Return the producer's transactional.id: stable across restarts of one member."""
        return f"fraudstream-feedback-{self.group_id}-{self.member_id}"

    @property
    def alert_topics(self) -> dict[str, str]:
        """Return {alert topic: the role whose alerts it holds}."""
        topics = {self.alert_topic: "champion"}
        if self.challenger_alert_topic:
            topics[self.challenger_alert_topic] = "challenger"
        return topics

    def __post_init__(self) -> None:
        names = ("labels_topic", "alert_topic", "changelog_topic", "dlq_topic", "group_id")
        for name in (*names, "member_id"):
            if not getattr(self, name):
                raise ConfigError(f"{name.replace('_', '-')} must not be empty")
        topics = [self.labels_topic, self.alert_topic, self.changelog_topic, self.dlq_topic]
        topics += [self.challenger_alert_topic] if self.challenger_alert_topic else []
        if len(set(topics)) != len(topics):
            raise ConfigError(
                "labels, alert, challenger alert, changelog and dead-letter topics must all differ"
            )
        _positive(self, "batch_size", "batch_timeout", "transaction_timeout", "max_message_bytes")
        _positive(self, "horizon", "max_alerts", "max_verdicts")
        if self.commit_interval < 0:
            raise ConfigError("commit-interval must be 0 (every batch) or more")
        if not 0 <= self.grace < self.horizon:
            raise ConfigError("grace must be 0 or more and shorter than the horizon")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics-port {self.metrics_port} is not a TCP port")


@dataclass(frozen=True)
class LabelledSettings:
    """Everything `python -m consumer labelled` needs."""

    kafka: KafkaSettings
    transactions_topic: str
    labels_topic: str
    out: Path
    maturity: float = 30 * 86400.0
    read_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.transactions_topic == self.labels_topic:
            raise ConfigError("the transactions and labels topics must differ")
        if self.maturity < 0:
            raise ConfigError("maturity must be 0 or more")
        _positive(self, "read_timeout")


def consumer_config(settings: RunSettings) -> dict[str, object]:
    """Return the scoring consumer's librdkafka settings; user settings cannot touch ours."""
    return {
        "group.id": settings.group_id,
        # We store nothing automatically and commit explicitly, only after the producer has
        # flushed every alert and dead letter of the messages the offsets cover.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": settings.auto_offset_reset,
        # Skip records of aborted transactions upstream (librdkafka's default, made explicit).
        "isolation.level": "read_committed",
        "fetch.max.bytes": 64 * 1024 * 1024,
        "client.id": "fraudstream-consumer",
        **settings.kafka.client_config(),
    }


def producer_config(settings: RunSettings | ReplaySettings) -> dict[str, object]:
    """Return the librdkafka settings of a producer of alerts, dead letters or replayed rows."""
    ours: dict[str, object] = {}
    if isinstance(settings, RunSettings) and settings.exactly_once:
        ours["transactional.id"] = settings.transactional_id
    return {
        **ours,
        "acks": "all",
        # Idempotence keeps retried records in order and without duplicates per partition.
        "enable.idempotence": True,
        "linger.ms": 5,
        "queue.buffering.max.messages": 1_000_000,
        "client.id": "fraudstream-producer",
        **settings.kafka.client_config(),
    }


def follower_config(settings: FollowSettings, group_id: str) -> dict[str, object]:
    """Return the librdkafka settings of the alert follower (it never commits)."""
    return {
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest" if settings.from_beginning else "latest",
        # Alerts of an aborted exactly-once transaction are never shown.
        "isolation.level": "read_committed",
        "client.id": "fraudstream-alerts",
        **settings.kafka.client_config(),
    }


def _avro_needs_registry(option: str, value: str, registry: RegistrySettings | None) -> None:
    """Refuse an unknown format, and Avro without a registry to register its schema in."""
    if value not in FORMATS:
        raise ConfigError(f"{option} must be one of {', '.join(FORMATS)}, not {value!r}")
    if value == "avro" and registry is None:
        raise ConfigError(
            f"--{option} avro needs --schema-registry-url: the schema is registered there"
        )


def feedback_consumer_config(settings: FeedbackSettings) -> dict[str, object]:
    """Return the settings of the feedback process's labels consumer (a group member)."""
    return {
        "group.id": settings.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # Verdicts are never skipped: a new group reads the labels topic from its start.
        "auto.offset.reset": "earliest",
        # Offsets fetched on assignment wait for a previous owner's open transaction (KIP-447).
        "isolation.level": "read_committed",
        "client.id": "fraudstream-feedback",
        **settings.kafka.client_config(),
    }


def reader_config(settings: FeedbackSettings | LabelledSettings, name: str) -> dict[str, object]:
    """Return the settings of a consumer that reads by assignment and never commits (alerts,
    changelog, the topics of the labelled export); `name` tells its purpose in client.id."""
    return {
        "group.id": f"fraudstream-{name}-reader",  # required by the client, never joined
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "isolation.level": "read_committed",
        "fetch.max.bytes": 64 * 1024 * 1024,
        "client.id": f"fraudstream-{name}",
        **settings.kafka.client_config(),
    }


def feedback_producer_config(settings: FeedbackSettings) -> dict[str, object]:
    """Return the settings of the feedback process's transactional producer."""
    return {
        "transactional.id": settings.transactional_id,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "queue.buffering.max.messages": 1_000_000,
        "client.id": "fraudstream-feedback",
        **settings.kafka.client_config(),
    }


def _positive(settings: object, *names: str) -> None:
    for name in names:
        if not getattr(settings, name) > 0:
            raise ConfigError(f"{name.replace('_', '-')} must be positive")
