"""Where progress messages go: the `Log` callable type and its standard-error default."""

from __future__ import annotations

import sys
from collections.abc import Callable

Log = Callable[[str], None]


def stderr(message: str) -> None:
    """Print a progress message to standard error at once."""
    print(message, file=sys.stderr, flush=True)


def quiet(message: str) -> None:
    """Drop a progress message."""
