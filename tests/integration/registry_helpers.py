"""A real Schema Registry for integration tests: scripts/registry-local, or one given.

Not a conftest.py fixture: a second conftest.py beside tests/faults' one makes
`pytest tests/integration tests/faults` refuse to collect (both import as `conftest`), so a
test module defines its fixture with `yield from running_registry(tmp_path_factory)`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REGISTRY_LOCAL = REPO_ROOT / "scripts" / "registry-local"


def registry_local(*args: str, timeout: float = 600) -> str:
    """Run ``scripts/registry-local`` and return its last stdout line (stderr passes through)."""
    result = subprocess.run(
        [sys.executable, str(REGISTRY_LOCAL), *args],
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=True,
    )
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def can_run_local_registry() -> bool:
    """A JDK and ``mvn`` (to fetch the registry once) are enough for ``registry-local``."""
    return shutil.which("java") is not None and shutil.which("mvn") is not None


def running_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield the URL confluent-kafka's `SchemaRegistryClient` takes: SCHEMA_REGISTRY_URL, else
    a local Apicurio Registry's, started with scripts/registry-local and stopped afterwards."""
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


@dataclass(frozen=True)
class LocalRegistry:
    """A registry-local process of a test's own: its URL, and its pid to freeze it by."""

    url: str
    pid: int

    def freeze(self) -> None:
        """Stop the process (SIGSTOP): requests hang unanswered, as a registry gone away."""
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)


def local_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """Yield a registry started with scripts/registry-local (never SCHEMA_REGISTRY_URL's: a test
    that stops the process needs its own), stopped afterwards."""
    if not can_run_local_registry():
        pytest.fail("registry-local needs a JDK 17+ and mvn", pytrace=False)
    root = tmp_path_factory.mktemp("registry")
    url = registry_local("start", "--dir", str(root))
    registry = LocalRegistry(url, int((root / "registry.pid").read_text()))
    try:
        yield registry
    finally:
        with contextlib.suppress(ProcessLookupError):
            registry.thaw()  # a frozen JVM would not hear the stop's SIGTERM
        registry_local("stop", "--dir", str(root), timeout=120)
