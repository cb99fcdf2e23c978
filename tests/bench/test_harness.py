"""The harness's pure parts: rate windows, histogram quantiles, the report and its markers."""

from __future__ import annotations

import doctest
import importlib

import pytest

from bench import report
from bench.consumer_throughput import window_rate
from bench.latency import histogram_quantile


@pytest.mark.parametrize("name", ["bench.consumer_throughput", "bench.latency", "bench.report"])
def test_docstring_examples(name):
    assert doctest.testmod(importlib.import_module(name)).failed == 0


def test_the_rate_window_starts_when_every_process_is_ready():
    samples = [(0.0, 0.0), (1.0, 30.0), (2.0, 60.0), (3.0, 90.0)]
    assert window_rate(samples, 100) == pytest.approx(30.0)
    # Ready only at t=2: count from the sample there (60) to the 90% mark (t=3).
    assert window_rate(samples, 100, start=2.0) == pytest.approx(30.0)
    with pytest.raises(RuntimeError, match="more messages"):
        window_rate(samples, 100, start=3.0)


def test_histogram_quantiles_interpolate_inside_buckets_and_stop_at_the_last_bound():
    buckets = [(0.005, 0.0), (0.01, 80.0), (0.025, 99.0), (float("inf"), 100.0)]
    assert histogram_quantile(buckets, 0.5) == pytest.approx(0.005 + 0.005 * 50 / 80)
    assert histogram_quantile(buckets, 0.99) == pytest.approx(0.025)
    assert histogram_quantile(buckets, 1.0) == pytest.approx(0.025)


def test_the_report_replaces_only_what_lies_between_its_markers(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    report.write_into(path, "first\n")
    text = path.read_text()
    path.write_text("# Title\n\nprose before\n\n" + text + "\nprose after\n")
    report.write_into(path, "second\n")
    text = path.read_text()
    assert "prose before" in text and "prose after" in text
    assert "second" in text and "first" not in text
    assert text.count(report.BEGIN) == 1 and text.count(report.END) == 1


def a_run(**figures: object) -> dict[str, object]:
    """Return the results of a run with 100,000 msg/s of raw consume and `figures`."""
    base = {"started": "now", "machine": "here", "command": "python -m bench"}
    return base | {"duration_s": 1.0, "raw": 100_000.0, "topic": "t"} | figures


def test_the_report_shows_throughput_with_and_without_the_supervised_stage():
    group = {"processes": 1, "rate": 20_000.0, "committed_to_end": True}
    group |= {"ready_s": 0.3, "peak_rss": 2**26, "cpu_cores": 0.9}
    results = a_run(stage=True, groups=[group], autoencoder_only=group | {"rate": 50_000.0})
    text = report.render(results)
    assert "(default bundle: autoencoder + supervised stage) | 20,000 msg/s | 0.200 |" in text
    assert "(bundle fitted `--stage autoencoder`) | 50,000 msg/s | 0.500 |" in text


def test_ratios_are_to_the_mean_of_the_raw_reads_before_and_after_the_scoring_runs():
    text = report.render(a_run(raw_runs=[90_000.0, 110_000.0]))
    assert "| raw consume, the read before the scoring runs | 90,000 msg/s | 0.900 |" in text
    assert "| raw consume, the read after the scoring runs | 110,000 msg/s | 1.100 |" in text
