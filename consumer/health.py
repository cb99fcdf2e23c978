"""The HTTP edge on the metrics port: /metrics (Prometheus), /healthz (alive), /readyz (ready)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder


class Health:
    """Readiness state, written by the loop and read by the HTTP thread."""

    def __init__(self) -> None:
        self.model_version: str | None = None
        self.assigned: frozenset[tuple[str, int]] = frozenset()
        self.unavailable: str | None = None  # what the consumer waits for (a Schema Registry)

    def ready(self) -> tuple[bool, str]:
        """Return whether the consumer is ready, and why not."""
        if self.model_version is None:
            return False, "model not loaded"
        if self.unavailable is not None:
            return False, self.unavailable
        if not self.assigned:
            return False, "no partitions assigned"
        return True, f"model {self.model_version}, {len(self.assigned)} partitions"


class FeedbackHealth:
    """The feedback process's readiness, written by its loop and read by the HTTP thread."""

    def __init__(self) -> None:
        self.alerts_read = False  # every alert partition read to its end once
        self.assigned: frozenset[int] = frozenset()  # labels partitions held, their state restored

    def ready(self) -> tuple[bool, str]:
        """Return whether the feedback process is ready, and why not."""
        if not self.alerts_read:
            return False, "alert topics not read to their end yet"
        if not self.assigned:
            return False, "no labels partitions assigned"
        return True, f"{len(self.assigned)} labels partitions, alerts read to their end"


class Readiness(Protocol):
    """What /readyz asks: a process's health."""

    def ready(self) -> tuple[bool, str]: ...


def serve(
    host: str, port: int, health: Readiness, registry: CollectorRegistry = REGISTRY
) -> ThreadingHTTPServer:
    """Start the HTTP server in a daemon thread and return it (`shutdown()` stops it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                self._reply(200, encoder(registry), content_type)
            elif path == "/healthz":
                self._reply(200, b"ok\n")
            elif path == "/readyz":
                ready, why = health.ready()
                self._reply(200 if ready else 503, why.encode() + b"\n")
            else:
                self._reply(404, b"not found: try /metrics, /healthz or /readyz\n")

        def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # scrapes every few seconds are not events worth a log line

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
