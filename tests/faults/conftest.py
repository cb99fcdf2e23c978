"""The fault suite writes its figures to RELIABILITY.md when the session ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fault_helpers import RESULTS, write_report


@pytest.fixture(scope="session", autouse=True)
def reliability_report() -> Iterator[None]:
    """Write RELIABILITY.md from the scenarios that ran, once they have all run."""
    yield
    if RESULTS:
        write_report()
