"""docker-compose.yml, validated without a Docker engine: Docker's parser, then the code's view."""

from __future__ import annotations

import copy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from stack import (
    COMPOSE_FILE,
    GRAFANA_DASHBOARDS,
    GRAFANA_DATASOURCE,
    PROMETHEUS_CONFIG,
    bind_sources,
    command_problems,
    consumer_settings,
    feedback_settings,
    healthcheck_problems,
    healthcheck_url,
    kafka_local_version,
    mount_problems,
    read_yaml,
    registry_local_version,
    resolved,
    run_compose,
    scrape_job,
    url_port,
)

from consumer.config import FeedbackSettings, RunSettings

PROJECT_SERVICES = {"trainer", "consumer", "replay", "feedback"}


@pytest.fixture(scope="module")
def model():
    return resolved()


def write_variant(tmp_path: Path, change) -> Path:
    """Write docker-compose.yml with `change(document)` applied, beside nothing else."""
    document = copy.deepcopy(yaml.safe_load(COMPOSE_FILE.read_text()))
    change(document)
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_docker_compose_accepts_the_file():
    result = run_compose(COMPOSE_FILE, "config", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d["services"]["consumer"].update(comand=["x"]), id="unknown key"),
        pytest.param(
            lambda d: d["services"]["consumer"]["depends_on"].update(
                nosuch={"condition": "service_healthy"}
            ),
            id="depends on a missing service",
        ),
        pytest.param(
            lambda d: d["services"]["kafka"]["healthcheck"].update(interval="often"),
            id="bad duration",
        ),
        pytest.param(
            lambda d: d["services"]["grafana"].update(ports="3000"), id="ports not a list"
        ),
    ],
)
def test_docker_compose_refuses_a_broken_file(tmp_path, change):
    result = run_compose(write_variant(tmp_path, change), "config", "--quiet")
    assert result.returncode != 0
    assert result.stderr


def test_the_services_of_the_stack_are_all_there(model):
    assert set(model["services"]) == {
        "kafka",
        "registry",
        "topics",
        "trainer",
        "consumer",
        "replay",
        "feedback",
        "prometheus",
        "grafana",
    }


def test_kafka_runs_the_version_kafka_local_runs(model):
    version = kafka_local_version()
    assert model["services"]["kafka"]["image"] == f"apache/kafka:{version}"
    assert model["services"]["topics"]["image"] == f"apache/kafka:{version}"


def test_the_registry_runs_the_version_registry_local_runs_in_memory(model):
    registry = model["services"]["registry"]
    assert registry["image"] == f"apicurio/apicurio-registry:{registry_local_version()}"
    environment = registry["environment"]
    assert environment["APICURIO_STORAGE_KIND"] == "sql"
    assert environment["APICURIO_STORAGE_SQL_KIND"] == "h2"
    # No datasource settings: the registry's default H2 URL is an in-memory database.
    assert not [name for name in environment if name.startswith("APICURIO_DATASOURCE")]


def test_the_registry_is_checked_and_published_where_it_listens(model):
    registry = model["services"]["registry"]
    (published,) = registry["ports"]
    url = healthcheck_url(registry)
    assert url_port(url) == published["target"] == 8080  # the image's Quarkus HTTP port
    assert urlsplit(url).path == "/health/ready"
    assert published["published"] == "8081"  # the Confluent Schema Registry's usual port


def test_each_project_service_runs_a_real_entry_point_with_options_it_accepts(model):
    assert {n for n, s in model["services"].items() if "build" in s} == PROJECT_SERVICES
    assert command_problems(model) == []


def test_a_misspelt_option_or_missing_setting_is_caught(model):
    broken = copy.deepcopy(model)
    broken["services"]["trainer"]["command"][2] += "\nfraudstream-train fit --dta x --model-dir m\n"
    del broken["services"]["consumer"]["environment"]["FRAUD_MODEL_DIR"]
    broken["services"]["replay"]["command"] = ["fraudstream-consumer", "replya"]
    problems = command_problems(broken)
    assert len(problems) == 3, problems
    assert [p.split(":")[0] for p in problems] == ["consumer", "replay", "trainer"]


def test_the_topics_step_creates_exactly_the_topics_the_consumer_and_feedback_use(model):
    settings = consumer_settings(model)
    feedback = feedback_settings(model)
    environment = model["services"]["topics"]["environment"]
    created = environment["TOPICS"].split()
    used = [settings.input_topic, settings.alert_topic, settings.scores_topic, settings.dlq_topic]
    used += [feedback.labels_topic, feedback.dlq_topic]
    assert sorted(created) == sorted(used)
    assert feedback.alert_topic == settings.alert_topic
    # The changelog: compacted, with as many partitions as the labels topic (the same loop).
    assert environment["COMPACTED"].split() == [feedback.changelog_topic]
    assert "cleanup.policy=compact" in model["services"]["topics"]["command"][2]
    assert settings.input_topic == "transactions"  # the name the README's examples use
    replay = model["services"]["replay"]["command"]
    assert replay[replay.index("--topic") + 1] == settings.input_topic
    assert int(model["services"]["topics"]["environment"]["PARTITIONS"]) >= 3  # --scale 3


def test_consumer_ports_agree_with_the_code_prometheus_and_its_healthcheck(model):
    port = RunSettings.__dataclass_fields__["metrics_port"].default
    consumer = model["services"]["consumer"]
    assert consumer_settings(model).metrics_port == port
    assert url_port(healthcheck_url(consumer)) == port
    assert consumer["expose"] == [str(port)]
    assert "ports" not in consumer, "a fixed host port would stop --scale consumer=3"
    (discovery,) = scrape_job("fraudstream")["dns_sd_configs"]
    assert discovery["names"] == ["consumer"] and discovery["port"] == port


def test_feedback_ports_agree_with_the_code_prometheus_and_its_healthcheck(model):
    port = FeedbackSettings.__dataclass_fields__["metrics_port"].default
    feedback = model["services"]["feedback"]
    assert feedback_settings(model).metrics_port == port
    assert url_port(healthcheck_url(feedback)) == port
    assert feedback["expose"] == [str(port)]
    assert "ports" not in feedback
    jobs = [job["job_name"] for job in read_yaml(PROMETHEUS_CONFIG)["scrape_configs"]]
    assert jobs == ["fraudstream", "fraudstream-feedback"]
    (discovery,) = scrape_job("fraudstream-feedback")["dns_sd_configs"]
    assert discovery["names"] == ["feedback"] and discovery["port"] == port


def test_grafana_finds_prometheus_and_the_dashboards_where_compose_puts_them(model):
    (source,) = read_yaml(GRAFANA_DATASOURCE)["datasources"]
    assert source["url"] == "http://prometheus:9090"
    assert {p["target"] for p in model["services"]["prometheus"]["ports"]} == {9090}
    (provider,) = read_yaml(GRAFANA_DASHBOARDS)["providers"]
    targets = [Path(v["target"]) for v in model["services"]["grafana"]["volumes"]]
    assert Path(provider["options"]["path"]) in [t.parent for t in targets]


def test_every_mounted_file_exists(model):
    assert mount_problems(model) == []
    mounted = {
        path.relative_to(COMPOSE_FILE.parent).as_posix() for path in bind_sources(model).values()
    }
    assert "deploy/prometheus/alerts.yml" in mounted
    assert "deploy/grafana/dashboards/fraudstream.json" in mounted


def test_a_missing_mounted_file_is_caught(tmp_path):
    def mount_nothing(document):
        document["services"]["prometheus"]["volumes"][0] = "./deploy/nothing.yml:/etc/x.yml:ro"

    problems = mount_problems(resolved(write_variant(tmp_path, mount_nothing)))
    assert len(problems) == 1 and "deploy/nothing.yml" in problems[0]


def test_services_start_in_order(model):
    assert healthcheck_problems(model) == []
    waits = model["services"]["consumer"]["depends_on"]
    assert waits["kafka"]["condition"] == "service_healthy"
    assert waits["topics"]["condition"] == "service_completed_successfully"
    assert waits["trainer"]["condition"] == "service_completed_successfully"
    assert model["services"]["grafana"]["depends_on"]["prometheus"]["condition"] == (
        "service_healthy"
    )


def test_waiting_for_a_service_without_a_healthcheck_is_caught(model):
    broken = copy.deepcopy(model)
    del broken["services"]["kafka"]["healthcheck"]
    assert len(healthcheck_problems(broken)) == 3  # topics, consumer and feedback wait for it


def test_the_trainer_synthesises_by_default_and_reads_a_given_csv(model, tmp_path):
    (placeholder,) = [
        path for where, path in bind_sources(model).items() if where.startswith("trainer:")
    ]
    assert placeholder.stat().st_size == 0  # the trainer's `[ -s ... ]` test reads it as "none"
    own = tmp_path / "creditcard.csv"
    own.write_text("Time,V1,Amount\n")
    result = run_compose(
        COMPOSE_FILE, "config", "--format", "json", env={"FRAUDSTREAM_DATA": str(own)}
    )
    assert result.returncode == 0, result.stderr
    assert str(own) in result.stdout
