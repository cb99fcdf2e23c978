"""Kafka fixtures for the integration and fault tests (one broker for the whole session).

``kafka_bootstrap`` picks the first available broker, in order:

1. ``KAFKA_BOOTSTRAP_SERVERS`` from the environment (an existing broker);
2. a testcontainers ``KafkaContainer`` if a Docker engine answers;
3. a real local broker started with ``scripts/kafka-local`` (needs a JDK and
   ``mvn`` or ``KAFKA_HOME``), stopped at the end of the session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The helpers live with the integration tests; the fault tests import them too.
sys.path.insert(0, str(Path(__file__).parent / "integration"))

from consumer_helpers import ScorerTopics  # noqa: E402
from kafka_helpers import (  # noqa: E402
    REPO_ROOT,
    can_run_local_broker,
    create_topic,
    delete_topics,
    docker_available,
    kafka_local,
    unique_topic_name,
)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers (``host:port``) of a Kafka broker for this test session."""
    from_env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if from_env:
        yield from_env
        return

    if docker_available():
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:  # testcontainers < 4.15
            from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as container:
            yield container.get_bootstrap_server()
        return

    if not can_run_local_broker():
        # Fail, never skip: integration tests are part of the normal test command, and a
        # skipped broker would hide a broken CI behind a green run.
        pytest.fail(
            "no Kafka broker for the integration tests: set KAFKA_BOOTSTRAP_SERVERS, "
            "run a Docker engine, or install a JDK 17+ and mvn (or set KAFKA_HOME)",
            pytrace=False,
        )
    broker_dir = tmp_path_factory.mktemp("kafka")
    bootstrap = kafka_local("start", "--dir", str(broker_dir))
    try:
        yield bootstrap
    finally:
        kafka_local("stop", "--dir", str(broker_dir), timeout=120)


@pytest.fixture
def topic_factory(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """Create fresh, uniquely named topics: ``topic_factory(partitions=3)`` -> name.

    Topics are deleted (best effort) when the test ends.
    """
    created: list[str] = []

    def create(partitions: int = 1, prefix: str = "test") -> str:
        name = unique_topic_name(prefix)
        create_topic(kafka_bootstrap, name, partitions)
        created.append(name)
        return name

    yield create
    delete_topics(kafka_bootstrap, created)


@pytest.fixture(scope="session")
def model_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny bundle (3000 synthetic rows, 3 epochs, one network), trained once per session."""
    from training.commands import run_fit
    from training.datasets.synth import synthesize
    from training.fitting.config import FitConfig

    root = tmp_path_factory.mktemp("bundle")
    data = root / "train.csv"
    synthesize(3000, 0.02, seed=1).to_csv(data, index=False)
    config = FitConfig(epochs=3, patience=0, ensemble=1, threshold="rate:0.03", seed=0)
    run_fit(data, root / "model", config, log=lambda *_: None)
    return root / "model"


@dataclass(frozen=True)
class Stream:
    """A labelled transactions CSV and what offline scoring says about each row."""

    csv: Path
    ids: list[str]  # transaction ids that `consumer replay` gives the rows
    scores: dict[str, float]
    alerts: set[str]


@pytest.fixture(scope="session")
def stream(model_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Stream:
    """1500 fresh synthetic rows, scored offline with `python -m training score`."""
    from training.datasets.synth import synthesize

    root = tmp_path_factory.mktemp("stream")
    csv = root / "stream.csv"
    synthesize(1500, 0.03, seed=7).to_csv(csv, index=False)
    out = root / "scores.csv"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "score",
            "--model-dir",
            str(model_bundle),
            "--data",
            str(csv),
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    import pandas as pd

    offline = pd.read_csv(out)
    ids = [f"stream-{i}" for i in range(len(offline))]
    alerts = {i for i, flag in zip(ids, offline["alert"], strict=True) if flag == 1}
    assert alerts, "the tiny model should alert on some rows"
    return Stream(csv, ids, dict(zip(ids, offline["score"], strict=True)), alerts)


@pytest.fixture
def scorer_topics(topic_factory: Callable[..., str]) -> Callable[[int], ScorerTopics]:
    """Create an input topic with N partitions, alert, DLQ and scores topics, and a group id."""

    def create(partitions: int) -> ScorerTopics:
        source = topic_factory(partitions=partitions, prefix="tx")
        alerts, dlq, scores = (topic_factory(prefix=p) for p in ("alerts", "dlq", "scores"))
        return ScorerTopics(source, alerts, dlq, scores, f"scorer-{uuid.uuid4().hex[:8]}")

    return create
