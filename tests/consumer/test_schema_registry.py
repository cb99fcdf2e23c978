"""The schema lookup: one request per id, unknown ids told apart from an unreachable registry."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka.schema_registry.error import SchemaRegistryError

from consumer.errors import ConsumerError
from consumer.schema_registry import RegistryUnavailableError, SchemaCache

RECORD = json.dumps({"type": "record", "name": "T", "fields": [{"name": "V1", "type": "double"}]})


@dataclass
class Registered:
    schema_str: str | None
    schema_type: str | None = "AVRO"
    references: Any = ()


@dataclass
class FakeRegistry:
    """Answers get_schema from `schemas`; a missing id is a 404; `failure` is raised if set."""

    schemas: dict[int, Registered]
    failure: Exception | None = None
    asked: list[int] = field(default_factory=list)

    def get_schema(self, schema_id: int) -> Registered:
        self.asked.append(schema_id)
        if self.failure is not None:
            raise self.failure
        if schema_id not in self.schemas:
            raise SchemaRegistryError(404, 40403, f"Schema {schema_id} not found")
        return self.schemas[schema_id]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_id_is_fetched_and_parsed_once():
    registry = FakeRegistry({1: Registered(RECORD), 2: Registered('{"type": "object"}', "JSON")})
    cache = SchemaCache(registry)
    first = cache.resolve([1, 2])
    second = cache.resolve([2, 1])
    assert registry.asked == [1, 2]
    assert first[1] is second[1] and first[1].avro["name"] == "T"
    assert first[2].schema_type == "JSON"


def test_the_confluent_api_leaves_out_the_type_of_avro_schemas():
    cache = SchemaCache(FakeRegistry({3: Registered(RECORD, None)}))
    assert cache.get(3).schema_type == "AVRO"


def test_an_unknown_id_is_none_and_asked_again_only_once_its_time_is_up():
    registry = FakeRegistry({})
    clock = Clock()
    cache = SchemaCache(registry, unknown_kept_s=60, clock=clock)
    assert cache.resolve([9]) == {9: None}
    clock.now = 59.0
    assert cache.get(9) is None
    assert registry.asked == [9]
    registry.schemas[9] = Registered(RECORD)  # registered since
    clock.now = 60.0
    assert cache.get(9).schema_id == 9
    assert registry.asked == [9, 9]


def test_expired_unknown_ids_are_forgotten():
    registry = FakeRegistry({})
    clock = Clock()
    cache = SchemaCache(registry, unknown_kept_s=1, clock=clock)
    for schema_id in range(100):
        cache.get(schema_id)
        clock.now += 2
    assert len(cache._unknown_until) == 1


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionRefusedError("connection refused"),
        SchemaRegistryError(503, 50301, "backend unavailable"),
        SchemaRegistryError(401, 40101, "unauthorized"),
        TimeoutError("timed out"),
    ],
    ids=["refused", "5xx", "unauthorized", "timeout"],
)
def test_a_registry_that_cannot_answer_is_unavailable_not_bad_input(failure):
    registry = FakeRegistry({1: Registered(RECORD)}, failure=failure)
    cache = SchemaCache(registry)
    with pytest.raises(RegistryUnavailableError, match="could not be asked for schema 1") as raised:
        cache.resolve([1])
    assert isinstance(raised.value, ConsumerError) and raised.value.__cause__ is failure
    registry.failure = None  # back: the same id is asked again, nothing was remembered
    assert cache.get(1).schema_id == 1
    assert registry.asked == [1, 1]


def test_a_schema_that_does_not_parse_is_kept_with_its_problem():
    cache = SchemaCache(FakeRegistry({4: Registered("{not json")}))
    assert "does not parse as Avro" in cache.get(4).problem
