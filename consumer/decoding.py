"""The decode stage: a batch of plain JSON, or of values framed for a Schema Registry, decoded.

Values whose first byte is 0 are framed (Confluent's wire format): their schema ids are looked
up first, through the cache, so each id costs the registry one request; then
`consumer.avro.AvroDecoder` decodes the batch (Avro records, JSON-Schema payloads and plain
JSON alike). Without a registry, framed values are set aside as `no_registry`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from consumer.avro import AvroDecoder, schema_ids
from consumer.avro_schema import WriterSchema
from consumer.messages import Decoded, InputMessage


class SchemaLookup(Protocol):
    """What the stage asks of `consumer.schema_registry.SchemaCache`."""

    def resolve(self, ids: Iterable[int]) -> dict[int, WriterSchema | None]: ...


class BatchDecoder:
    """Decode batches into the model's features, looking up new schema ids first.

    Parameters:
        schemas: the registry's schemas by id; None when no registry is configured.

    >>> from confluent_kafka import Message
    >>> batch = [Message(value=b'{"a": 1}'), Message(value=b"\\x00\\x00\\x00\\x00\\x01x")]
    >>> decoded = BatchDecoder().decode(batch, ("a",), 1024)
    >>> decoded.features.tolist(), [r.reason for r in decoded.rejected]
    ([[1.0]], ['no_registry'])
    """

    def __init__(self, schemas: SchemaLookup | None = None):
        self.schemas = schemas
        self._decoder = AvroDecoder(())

    def decode(
        self, batch: Sequence[InputMessage], feature_names: Sequence[str], max_bytes: int
    ) -> Decoded:
        """Decode a batch; its schema ids are looked up first (a registry is asked once per id).

        Raises:
            RegistryUnavailableError: the registry could not be asked about a new id; nothing
                of the batch is decoded, and it must wait.
        """
        if self._decoder.feature_names != tuple(feature_names):  # a new model's features
            self._decoder = AvroDecoder(feature_names)
        found = None
        if self.schemas is not None:
            ids = schema_ids([message.value() for message in batch])
            found = self.schemas.resolve(ids) if ids else {}
        return self._decoder.decode(batch, max_bytes, found)
