"""The fault suite writes its figures to RELIABILITY.md when the session ends."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fault_helpers import RESULTS, write_report

SPENT = [0.0]  # seconds the fault tests took, whatever ran between them


@pytest.fixture(autouse=True)
def timed() -> Iterator[None]:
    """Add each fault test's wall time to the suite's total."""
    started = time.monotonic()
    yield
    SPENT[0] += time.monotonic() - started


@pytest.fixture(scope="session", autouse=True)
def reliability_report() -> Iterator[None]:
    """Write RELIABILITY.md from the scenarios that ran, once they have all run."""
    yield
    if RESULTS:
        write_report(SPENT[0])
