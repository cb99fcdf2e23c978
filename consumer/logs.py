"""Structured logs: one JSON object per line on stderr, one line per event worth knowing."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

LOGGER = logging.getLogger("fraudstream")


class JsonFormatter(logging.Formatter):
    """Format a record as {"ts", "level", "event", ...fields}."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        return orjson.dumps(line, default=str).decode()


def configure(level: str = "info", stream: TextIO = sys.stderr) -> None:
    """Send fraudstream's log events to `stream` as JSON lines at `level` and above."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level.upper())
    LOGGER.propagate = False


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields; never pass secrets (settings are logged redacted)."""
    LOGGER.log(level, event, extra={"fields": fields})
