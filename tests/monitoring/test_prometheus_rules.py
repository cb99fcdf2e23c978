"""The Prometheus config and alerting rules under deploy/prometheus, checked with promtool."""

from __future__ import annotations

import shutil
import subprocess

import yaml
from monitoring_helpers import PROMETHEUS_DIR, PROMETHEUS_SERIES, metric_names, run_promtool


def test_config_is_valid(promtool):
    output = run_promtool(promtool, "check", "config", "prometheus.yml")
    assert "1 rule files found" in output


def test_rules_are_valid(promtool, alert_rules):
    output = run_promtool(promtool, "check", "rules", "alerts.yml")
    assert f"{len(alert_rules)} rules found" in output


def test_rule_unit_tests_pass(promtool):
    assert "SUCCESS" in run_promtool(promtool, "test", "rules", "alerts_test.yml")


def test_rule_unit_tests_can_fail(promtool, tmp_path):
    """A wrong expectation makes promtool fail: the unit tests compare what fires."""
    shutil.copy(PROMETHEUS_DIR / "alerts.yml", tmp_path)
    text = (PROMETHEUS_DIR / "alerts_test.yml").read_text()
    broken = text.replace('instance: "drifted:9400"', 'instance: "stable:9400"')
    assert broken != text
    (tmp_path / "alerts_test.yml").write_text(broken)
    result = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True
    )
    assert result.returncode != 0


def test_every_rule_is_tested_firing_and_quiet(alert_rules):
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())["tests"]
    cases = [case for test in tests for case in test["alert_rule_test"]]
    for rule in alert_rules:
        name = rule["alert"]
        assert any(c["alertname"] == name and c["exp_alerts"] for c in cases), name
        assert any(c["alertname"] == name and not c["exp_alerts"] for c in cases), name


def test_every_rule_has_a_summary_and_a_runbook(alert_rules):
    assert len(alert_rules) == 9
    for rule in alert_rules:
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["runbook"].strip(), rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]


def test_rules_read_only_metrics_the_consumer_exports(alert_rules, exported_names):
    for rule in alert_rules:
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported_names | PROMETHEUS_SERIES, (rule["alert"], names)
