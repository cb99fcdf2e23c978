"""The Schema Registry of the benchmark: registry-local started (and timed), its memory read."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.kafka import REPO

REGISTRY_LOCAL = REPO / "scripts" / "registry-local"


@dataclass(frozen=True)
class Registry:
    """A running registry: where it answers, its pid (None if given), and its start time."""

    url: str
    pid: int | None
    start_s: float | None

    def memory(self) -> tuple[int, int] | None:
        """Return the registry process's resident and proportional memory (RSS, PSS), bytes."""
        if self.pid is None:
            return None
        fields = {}
        for line in Path(f"/proc/{self.pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, value = line.split(":", 1)
            fields[name] = int(value.split()[0]) * 1024
        return fields["Rss"], fields["Pss"]


@contextmanager
def local_registry(url: str | None, work: Path) -> Iterator[Registry]:
    """Yield `url` if given, else start `scripts/registry-local` in `work` (timed), stop after."""
    if url:
        yield Registry(url, None, None)
        return
    directory = work / "registry"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(REGISTRY_LOCAL), "start", "--dir", str(directory)],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    took = time.monotonic() - started
    pid = int((directory / "registry.pid").read_text())
    try:
        yield Registry(result.stdout.strip().splitlines()[-1], pid, took)
    finally:
        subprocess.run(
            [sys.executable, str(REGISTRY_LOCAL), "stop", "--dir", str(directory)], check=False
        )
