"""The fault suite's figures go to RELIABILITY.md only when scripts/reliability asks for them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_helpers import RESULTS, write_report

SPENT = [0.0]  # seconds the fault tests took, whatever ran between them


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reliability-report",
        metavar="PATH",
        help="write the fault scenarios' figures to PATH once they have run (scripts/reliability"
        " writes RELIABILITY.md); needs one process, no -n",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("reliability_report") and config.getoption("numprocesses", None):
        raise pytest.UsageError(
            "--reliability-report times scenarios run one at a time: leave out -n"
        )


@pytest.fixture(autouse=True)
def timed() -> Iterator[None]:
    """Add each fault test's wall time to the suite's total."""
    started = time.monotonic()
    yield
    SPENT[0] += time.monotonic() - started


@pytest.fixture(scope="session", autouse=True)
def reliability_report(request: pytest.FixtureRequest) -> Iterator[None]:
    """Write --reliability-report from the scenarios that ran, once they have all run."""
    yield
    path = request.config.getoption("reliability_report")
    if path and RESULTS:
        write_report(SPENT[0], Path(path))
