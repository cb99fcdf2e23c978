"""A Schema Registry for the integration tests that need one (one for the whole session).

``schema_registry_url`` is ``SCHEMA_REGISTRY_URL`` from the environment (an existing
registry's Confluent-compatible API), else a real local Apicurio Registry started with
``scripts/registry-local`` and stopped at the end of the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from registry_helpers import can_run_local_registry, registry_local


@pytest.fixture(scope="session")
def schema_registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL that confluent-kafka's ``SchemaRegistryClient`` takes."""
    from_env = os.environ.get("SCHEMA_REGISTRY_URL")
    if from_env:
        yield from_env
        return
    if not can_run_local_registry():
        # Fail, never skip, as for the broker: a skipped registry would hide a broken CI.
        pytest.fail(
            "no Schema Registry for the Avro integration tests: set SCHEMA_REGISTRY_URL, "
            "or install a JDK 17+ and mvn",
            pytrace=False,
        )
    root = tmp_path_factory.mktemp("registry")
    url = registry_local("start", "--dir", str(root))
    try:
        yield url
    finally:
        registry_local("stop", "--dir", str(root), timeout=120)
