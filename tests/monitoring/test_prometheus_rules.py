"""The Prometheus config and alerting rules under deploy/prometheus, checked with promtool."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from monitoring_helpers import (
    PROMETHEUS_DIR,
    PROMETHEUS_SERIES,
    PROPOSED,
    metric_names,
    run_promtool,
    sample_names,
)
from prometheus_client import CollectorRegistry, generate_latest

from consumer.feedback.metrics import FeedbackMetrics
from consumer.metrics import Metrics

# The rules' unit tests: alerts_weekly_test.yml holds those whose windows span a week.
TEST_FILES = ("alerts_test.yml", "alerts_weekly_test.yml")


def test_config_is_valid(promtool):
    output = run_promtool(promtool, "check", "config", "prometheus.yml")
    assert "1 rule files found" in output


def test_rules_are_valid(promtool, rules):
    output = run_promtool(promtool, "check", "rules", "alerts.yml")
    assert f"{len(rules)} rules found" in output


def test_rule_unit_tests_pass(promtool):
    output = run_promtool(promtool, "test", "rules", *TEST_FILES)
    assert output.count("SUCCESS") == len(TEST_FILES)


@pytest.mark.parametrize(
    ("test_file", "right", "wrong"),
    [
        ("alerts_test.yml", 'instance: "drifted:9400"', 'instance: "stable:9400"'),
        ("alerts_test.yml", "challenger, model_version: v3", "champion, model_version: v3"),
        ("alerts_test.yml", "            value: 0.7\n", "            value: 0.75\n"),
        ("alerts_weekly_test.yml", "ticket, role: challenger}", "ticket, role: champion}"),
        ("alerts_test.yml", 'instance: "stuck:9401"}', 'instance: "healthy:9401"}'),
    ],
)  # fmt: skip
def test_rule_unit_tests_can_fail(promtool, tmp_path, test_file, right, wrong):
    """A wrong expectation makes promtool fail: the unit tests compare what fires and what
    the recording rules record."""
    shutil.copy(PROMETHEUS_DIR / "alerts.yml", tmp_path)
    text = (PROMETHEUS_DIR / test_file).read_text()
    broken = text.replace(right, wrong)
    assert broken != text
    (tmp_path / test_file).write_text(broken)
    result = subprocess.run(
        [promtool, "test", "rules", test_file], cwd=tmp_path, capture_output=True
    )
    assert result.returncode != 0


def test_every_rule_is_tested_firing_and_quiet(alert_rules):
    tests = [
        test
        for name in TEST_FILES
        for test in yaml.safe_load((PROMETHEUS_DIR / name).read_text())["tests"]
    ]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    for rule in alert_rules:
        name = rule["alert"]
        assert any(c["alertname"] == name and c["exp_alerts"] for c in cases), name
        assert any(c["alertname"] == name and not c["exp_alerts"] for c in cases), name


def test_every_rule_has_a_summary_and_a_runbook(alert_rules):
    assert len(alert_rules) == 12
    for rule in alert_rules:
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["runbook"].strip(), rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]


def test_rules_read_only_metrics_the_consumer_exports(
    rules, exported_names, feedback_names, recording_rules
):
    """Each rule reads what the scorer or the feedback process exports, what a recording rule
    before it records, or a metric PROPOSED for the scorer to export."""
    recorded: set[str] = set()
    for rule in rules:
        name = rule.get("alert") or rule["record"]
        names = metric_names(rule["expr"])
        assert names, name
        known = exported_names | feedback_names | recorded | set(PROPOSED) | PROMETHEUS_SERIES
        assert names <= known, (name, names - known)
        recorded.update([rule["record"]] if "record" in rule else [])
    assert recorded == {rule["record"] for rule in recording_rules}


def test_proposed_metrics_are_not_exported_yet(exported_names, feedback_names):
    """Once the scorer exports a PROPOSED metric, it leaves PROPOSED (a reminder)."""
    assert not set(PROPOSED) & (exported_names | feedback_names)


def test_recorded_feedback_series_keep_every_label_but_the_instance(recording_rules):
    """The committed totals are the largest value of each labels partition across members:
    any label dropped besides the instance would merge partitions or counts."""
    committed = [r for r in recording_rules if r["record"].endswith(":committed")]
    assert len(committed) == 2
    for rule in committed:
        assert rule["expr"].startswith("max without (instance) (fraud_feedback_"), rule


def test_feedback_metrics_pass_promtool_lint(promtool, feedback_names):
    registry = CollectorRegistry()
    FeedbackMetrics(("champion", "challenger"), registry).committed.publish(0, {})
    exposition = generate_latest(registry).decode()
    check = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert sample_names(registry) <= feedback_names
    assert not sample_names(registry) & sample_names(_scorer_registry())


def _scorer_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Metrics(registry)
    return registry
