"""The consumer authenticates with SASL/SCRAM through FRAUD_KAFKA_*, and never shows the secret."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
from consumer_helpers import (
    ConsumerProcess,
    ScorerTopics,
    feed,
    read_topic,
    transactions,
    wait_until_committed,
)
from kafka_helpers import REPO_ROOT, can_run_local_broker, create_topic, kafka_local

SECRET = "s3cret-" + uuid.uuid4().hex  # unique: found anywhere means it leaked
USER = "fraud"


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A broker of its own with a SCRAM listener: (plaintext bootstrap, SASL bootstrap)."""
    if not can_run_local_broker():
        pytest.fail("the SASL test needs a JDK and mvn (or KAFKA_HOME)", pytrace=False)
    root = tmp_path_factory.mktemp("sasl-kafka")
    os.environ["KAFKA_LOCAL_SASL_PASSWORD"] = SECRET
    try:
        plain, sasl = kafka_local("start", "--dir", str(root), "--sasl-user", USER).splitlines()
    finally:
        del os.environ["KAFKA_LOCAL_SASL_PASSWORD"]
    try:
        yield plain, sasl
    finally:
        kafka_local("stop", "--dir", str(root), timeout=120)


def sasl_settings(password: str) -> dict[str, str]:
    return dict(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username=USER,
        kafka_sasl_password=password,
    )


@pytest.mark.slow
def test_the_consumer_authenticates_and_the_secret_never_shows(sasl_broker, model_bundle, tmp_path):
    plain, sasl = sasl_broker
    suffix = uuid.uuid4().hex[:8]
    topics = ScorerTopics(*(f"{p}-{suffix}" for p in ("tx", "alerts", "dlq", "scores", "g")))
    for topic in topics[:4]:
        create_topic(plain, topic)
    items = transactions(300, seed=29)
    feed(plain, topics.source, items)
    consumer = ConsumerProcess(
        tmp_path / "sasl.log",
        **topics.settings(sasl, model_bundle, exactly_once="true"),
        **sasl_settings(SECRET),
    )
    wrong = None
    try:
        wrong = ConsumerProcess(
            tmp_path / "wrong.log",
            **topics._replace(group=f"other-{suffix}").settings(sasl, model_bundle),
            **sasl_settings("not-" + SECRET),
        )
        wait_until_committed(plain, topics.group, topics.source, 1, 120, consumer)
        metrics = consumer.get("/metrics")[1] + wrong.get("/metrics")[1]
        deadline = time.monotonic() + 60
        while "Authentication failed" not in wrong.logs():
            assert time.monotonic() < deadline, wrong.logs()
            time.sleep(0.5)
        assert consumer.stop(signal.SIGTERM) == 0, consumer.logs()
        wrong.stop(signal.SIGTERM)
    finally:
        consumer.ensure_stopped()
        if wrong is not None:
            wrong.ensure_stopped()
    assert len(read_topic(plain, topics.scores, 1)) == len(items)
    for text in (consumer.logs(), wrong.logs(), metrics):
        assert SECRET not in text
    assert '"sasl.password":"**********"' in consumer.logs()  # logged masked at start


def test_a_rejected_setting_is_reported_without_the_secret(model_bundle):
    env = {
        "FRAUD_METRICS_PORT": "0",
        **os.environ,
        "FRAUD_KAFKA_SASL_PASSWORD": SECRET,
        "FRAUD_KAFKA_SASL_MECHANISM": "NO-SUCH-MECHANISM",
        "FRAUD_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    }
    args = ["--bootstrap-servers", "127.0.0.1:1", "--model-dir", str(model_bundle),
            "--input-topic", "a", "--alert-topic", "b", "--dlq-topic", "c",
            "--group-id", "g"]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "consumer", "run", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "settings rejected" in result.stderr
    assert SECRET not in result.stdout + result.stderr
