"""Look up writer schemas by id in a Schema Registry, once per id: the decoder's only I/O.

Wraps confluent-kafka's `SchemaRegistryClient` (any registry speaking the Confluent API:
Confluent's own, Apicurio's `/apis/ccompat/v7`, Redpanda...). Two failures are told apart,
because they call for opposite actions:

- the registry answers 404 for an id: no such schema; its messages are bad input, set aside
  as `schema_unknown` (and the answer is remembered for a while, so a flood of them costs
  one request per id, not one per message);
- the registry cannot be asked (refused connection, timeout, a 5xx, an authentication
  failure): `RegistryUnavailableError`. That is not bad input: the caller must wait and
  retry the batch, never dead-letter it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from consumer.avro_schema import WriterSchema, parse_writer_schema
from consumer.errors import ConfigError, ConsumerError

NOT_FOUND = 404
UNKNOWN_KEPT_S = 60.0  # how long "no such id" is believed before the registry is asked again


class RegistryUnavailableError(ConsumerError):
    """The Schema Registry could not be asked: retry later; the input is not at fault."""


class RegisteredSchema(Protocol):
    """What `SchemaRegistryClient.get_schema` returns (confluent_kafka.schema_registry.Schema)."""

    @property
    def schema_str(self) -> str | None: ...
    @property
    def schema_type(self) -> str | None: ...
    @property
    def references(self) -> Any: ...


class SchemaSource(Protocol):
    """The call of `SchemaRegistryClient` this module makes."""

    def get_schema(self, schema_id: int) -> RegisteredSchema: ...


class SchemaCache:
    """Writer schemas by id: each fetched and parsed once, unknown ids remembered a while.

    Parameters:
        source: a `SchemaRegistryClient`, or anything with its `get_schema`.
        unknown_kept_s: seconds an id the registry lacks stays unknown without asking again.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        source: SchemaSource,
        unknown_kept_s: float = UNKNOWN_KEPT_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._source = source
        self._unknown_kept_s = unknown_kept_s
        self._clock = clock
        self._known: dict[int, WriterSchema] = {}
        self._unknown_until: dict[int, float] = {}

    def resolve(self, ids: Iterable[int]) -> dict[int, WriterSchema | None]:
        """Return each id's schema, None for an id the registry does not have.

        Raises:
            RegistryUnavailableError: the registry could not answer for some id.
        """
        return {schema_id: self.get(schema_id) for schema_id in ids}

    def get(self, schema_id: int) -> WriterSchema | None:
        """Return the schema registered under `schema_id`, or None if there is none.

        Raises:
            RegistryUnavailableError: the registry could not answer.
        """
        known = self._known.get(schema_id)
        if known is not None:
            return known
        now = self._clock()
        if self._unknown_until.get(schema_id, now) > now:
            return None
        try:
            registered = self._source.get_schema(schema_id)
        except Exception as exc:  # noqa: BLE001 (the client raises its HTTP library's errors)
            if getattr(exc, "http_status_code", None) == NOT_FOUND:
                self._forget_expired(now)
                self._unknown_until[schema_id] = now + self._unknown_kept_s
                return None
            raise RegistryUnavailableError(
                f"the Schema Registry could not be asked for schema {schema_id}: {exc}"
            ) from exc
        parsed = parse_writer_schema(
            schema_id,
            registered.schema_type,
            registered.schema_str or "",
            registered.references or (),
        )
        self._known[schema_id] = parsed
        self._unknown_until.pop(schema_id, None)
        return parsed

    def _forget_expired(self, now: float) -> None:
        """Drop the unknown ids whose time is up, so a flood of bad ids cannot grow the map."""
        expired = [i for i, until in self._unknown_until.items() if until <= now]
        for schema_id in expired:
            del self._unknown_until[schema_id]


def registry_client(config: dict[str, Any]) -> Any:
    """Return confluent-kafka's client from its settings: `url` (e.g. .../apis/ccompat/v7) and
    its own (basic.auth.user.info, max.retries, timeout...); see `RegistrySettings`.

    Raises:
        ConfigError: the client refuses a setting.
    """
    from confluent_kafka.schema_registry import SchemaRegistryClient

    try:
        return SchemaRegistryClient(config)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"Schema Registry settings rejected: {exc}") from exc
