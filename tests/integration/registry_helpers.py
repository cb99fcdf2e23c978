"""Helpers for integration tests that talk to a real Schema Registry (scripts/registry-local)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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
