"""The run command's edge: the metrics port, clean-up when startup fails, stop signals."""

from __future__ import annotations

import signal
import socket

import pytest
from fakes import FakeDetector, fake_run_settings
from prometheus_client import CollectorRegistry

from consumer import service
from consumer.config import RunSettings
from consumer.errors import ConfigError
from consumer.health import Health
from training.scoring.scorer import Scorer


def settings(**changes) -> RunSettings:
    return fake_run_settings(**(dict(metrics_host="127.0.0.1", metrics_port=0) | changes))


def test_a_metrics_port_in_use_is_one_clear_sentence():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"^metrics port {port} is in use$"):
            service.serve_metrics(settings(metrics_port=port), Health(), CollectorRegistry())


def test_the_http_server_is_shut_down_when_the_producer_cannot_be_built(monkeypatch):
    servers = []

    def serve(*args):
        servers.append(service.serve(*args))
        return servers[-1]

    def refuse(_settings):
        raise ConfigError("Kafka producer settings rejected")

    monkeypatch.setattr(
        service, "load_scorer", lambda _path: ({"model_version": "m"}, Scorer(FakeDetector()))
    )
    monkeypatch.setattr(service, "serve_metrics", lambda s, h, r: serve(s.metrics_host, 0, h, r))
    monkeypatch.setattr(service, "build_producer", refuse)
    with pytest.raises(ConfigError):
        service.run(settings(), lambda: True, CollectorRegistry())
    assert servers[0].socket.fileno() == -1  # closed


def test_the_first_signal_only_sets_the_flag_and_a_second_exits_at_once(monkeypatch):
    exits = []
    monkeypatch.setattr(service.os, "_exit", exits.append)
    logged = []
    monkeypatch.setattr(service, "log_event", lambda event, **fields: logged.append(event))
    stop = service.StopSignals()
    assert not stop()
    stop.handle(signal.SIGTERM, None)
    assert logged == [] and exits == []  # nothing but the flag in the handler
    assert stop() and stop()
    assert logged == ["stop_requested"]  # logged once, by whoever checks the flag
    stop.handle(signal.SIGINT, None)
    assert exits == [service.FORCED_EXIT_CODE]
