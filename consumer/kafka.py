"""The Kafka edge: the client calls we use, as Protocols, and the clients built from settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from consumer.config import ReplaySettings, RunSettings, consumer_config, producer_config
from consumer.errors import ConfigError, FencedError, KafkaClientError
from consumer.logs import log_event

RebalanceCallback = Callable[[Any, list[TopicPartition]], None]
DeliveryCallback = Callable[[KafkaError | None, Message], None]
Headers = list[tuple[str, str | bytes | None]]  # the list form the client's hints accept
_Client = TypeVar("_Client", Consumer, Producer)


class Source(Protocol):
    """The consumer calls the scoring loop makes."""

    def subscribe(
        self,
        topics: list[str],
        on_assign: RebalanceCallback = ...,
        on_revoke: RebalanceCallback = ...,
        on_lost: RebalanceCallback = ...,
    ) -> None: ...
    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]: ...
    def commit(
        self, *, offsets: list[TopicPartition], asynchronous: Literal[False]
    ) -> list[TopicPartition]: ...
    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = ..., cached: bool = False
    ) -> tuple[int, int] | None: ...
    # Putting a batch back while the Schema Registry is away (consumer.registry_outage).
    def assignment(self) -> list[TopicPartition]: ...
    def pause(self, partitions: list[TopicPartition]) -> None: ...
    def resume(self, partitions: list[TopicPartition]) -> None: ...
    def seek(self, partition: TopicPartition) -> None: ...
    def close(self) -> None: ...


class Sink(Protocol):
    """The producer calls the publisher makes (and the replay command, which produces alone)."""

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: Headers | None = None,
        on_delivery: DeliveryCallback | None = None,
        partition: int = ...,
        timestamp: int = ...,
    ) -> None: ...
    def poll(self, timeout: float = -1) -> int: ...
    def flush(self, timeout: float = -1) -> int: ...
    def __len__(self) -> int: ...  # records not yet acknowledged


class TransactionalSource(Source, Protocol):
    """The consumer calls exactly-once delivery adds: group metadata, and where to rewind."""

    def consumer_group_metadata(self) -> object: ...
    def committed(
        self, partitions: list[TopicPartition], timeout: float = ...
    ) -> list[TopicPartition]: ...


class TransactionalSink(Sink, Protocol):
    """The producer calls of one Kafka transaction per batch."""

    def init_transactions(self, timeout: float = ...) -> None: ...
    def begin_transaction(self) -> None: ...
    def send_offsets_to_transaction(
        self, positions: list[TopicPartition], group_metadata: object, timeout: float = ...
    ) -> None: ...
    def commit_transaction(self, timeout: float = ...) -> None: ...
    def abort_transaction(self, timeout: float = ...) -> None: ...


def build_consumer(settings: RunSettings) -> Consumer:
    """Create the scoring consumer; a setting librdkafka refuses becomes a ConfigError."""
    return _build(Consumer, consumer_config(settings), "consumer")


def build_producer(settings: RunSettings | ReplaySettings) -> Producer:
    """Create a producer of alerts, dead letters or replayed rows; see `producer_config`."""
    return _build(Producer, producer_config(settings), "producer")


def build_client(config: dict[str, Any]) -> Consumer:
    """Create a consumer of the given settings (the alert follower, the feedback process's
    readers) with errors logged."""
    return _build(Consumer, config, "consumer")


def build_producer_client(config: dict[str, Any]) -> Producer:
    """Create a producer of the given settings (the feedback process's) with errors logged."""
    return _build(Producer, config, "producer")


def _build(
    client: Callable[[dict[str, Any]], _Client], config: dict[str, Any], kind: str
) -> _Client:
    try:
        return client({**config, **_logging()})
    except (KafkaException, ValueError, TypeError) as exc:
        raise ConfigError(f"Kafka {kind} settings rejected: {error_text(exc)}") from exc


def _logging() -> dict[str, Any]:
    # librdkafka's own log lines go through our JSON logs instead of raw to stderr.
    return {"error_cb": _log_client_error, "logger": logging.getLogger("fraudstream.librdkafka")}


def _log_client_error(error: KafkaError) -> None:
    # librdkafka reports transient trouble here (broker down, retrying); it recovers by itself.
    level = logging.ERROR if error.fatal() else logging.WARNING
    log_event("kafka_client_error", level, code=error.name(), reason=error.str())


def is_fenced(error: KafkaError) -> bool:
    """Tell whether a newer producer with the same transactional.id fenced this one."""
    return error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED)


def fatal_error(action: str, error: KafkaError) -> KafkaClientError:
    """Return the error that stops the consumer for a fatal client error, naming a fencing."""
    if is_fenced(error):
        return FencedError(
            "this consumer's producer was fenced: another instance took over its"
            " transactional.id, or the broker aborted a transaction older than"
            f" transaction.timeout.ms; stopping without committing ({action}: {error.str()})"
        )
    return KafkaClientError(f"fatal Kafka error in {action}: {error.str()}")


def kafka_error(exc: BaseException) -> KafkaError | None:
    """Return the KafkaError a KafkaException carries, or None for any other exception.

    >>> kafka_error(KafkaException(KafkaError(KafkaError._STATE))).code() == KafkaError._STATE
    True
    >>> kafka_error(ValueError("no")) is None
    True
    """
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def error_text(exc: BaseException) -> str:
    """Return librdkafka's own sentence for a Kafka error, else the exception's text.

    >>> error_text(KafkaException(KafkaError(KafkaError._STATE, "transaction is abortable")))
    'transaction is abortable'
    >>> error_text(ValueError("bad value"))
    'bad value'
    """
    error = kafka_error(exc)
    return error.str() if error is not None else str(exc)
