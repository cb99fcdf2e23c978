"""Generate the fraudstream Grafana dashboard (deploy/grafana/dashboards/fraudstream.json).

Run `python deploy/grafana/dashboard.py` after changing a panel, and commit the JSON with it;
`--check` exits 1 when the committed JSON differs from what this module generates (the test
suite checks the same). Panels query the consumer's metrics (consumer/metrics.py) through a
Prometheus datasource picked with the `datasource` variable; `instance` narrows them to some
consumers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import heatmap, stat, timeseries
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig, StackingConfig
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUTPUT = Path(__file__).resolve().parent / "dashboards" / "fraudstream.json"
UID = "fraudstream"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
# Every query is narrowed to the consumers chosen in the `instance` variable.
SELECTOR = 'job=~"$job", instance=~"$instance"'
# PSI bounds: below 0.1 no real change, above 0.25 the FraudScoreDrift rule's bound.
DRIFT_WARN, DRIFT_ALERT = 0.1, 0.25

Panel = timeseries.Panel | stat.Panel | heatmap.Panel


def query(expr: str, legend: str, ref_id: str = "A") -> prom.Dataquery:
    """Return a range query of `expr` whose series are named by `legend`."""
    return prom.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id).datasource(DATASOURCE)


def metric(name: str, extra: str = "") -> str:
    """Return `name{...}` narrowed to the chosen consumers (and `extra` matchers)."""
    return f"{name}{{{SELECTOR}{', ' + extra if extra else ''}}}"


def rate(name: str, by: str, extra: str = "") -> str:
    """Return the per-second rate of a counter, summed by the `by` labels."""
    return f"sum by ({by}) (rate({metric(name, extra)}[$__rate_interval]))"


def quantile(q: float, histogram: str, by: str = "") -> str:
    """Return the `q` quantile of a histogram over the last rate interval."""
    labels = f"{by}, le" if by else "le"
    buckets = f"sum by ({labels}) (rate({metric(histogram + '_bucket')}[$__rate_interval]))"
    return f"histogram_quantile({q:g}, {buckets})"


def chart(title: str, description: str, unit: str, *queries: prom.Dataquery) -> timeseries.Panel:
    """Return a time series panel of `queries`, labelled A, B, C... in order."""
    panel = timeseries.Panel().title(title).description(description).unit(unit)
    panel = panel.datasource(DATASOURCE).height(8).span(12).fill_opacity(10)
    for letter, target in zip("ABCDEFGH", queries, strict=False):
        panel = panel.with_target(target.ref_id(letter))
    return panel


def steps(*bounds: tuple[float | None, str]) -> db.ThresholdsConfig:
    """Return absolute thresholds: (None, base colour), then (bound, colour) in order."""
    return (
        db.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in bounds])
    )


def throughput() -> list[Panel]:
    """Return the panels of scored transactions and alerts."""
    return [
        chart(
            "Transactions scored per second",
            "Transactions each consumer scored per second (fraud_transactions_scored_total).",
            "ops",
            query(rate("fraud_transactions_scored_total", "instance"), "{{instance}}"),
            query(
                f"sum({rate('fraud_transactions_scored_total', 'instance')})",
                "all consumers",
            ),
        ),
        chart(
            "Alerts per minute",
            "Alerts the broker acknowledged, per minute (fraud_alerts_total).",
            "short",
            query(rate("fraud_alerts_total", "instance") + " * 60", "{{instance}}"),
        ),
        chart(
            "Alert ratio against the expected rate",
            "Share of scored transactions that alerted, against the share the model alerted "
            "on in its validation split (fraud_expected_alert_ratio). The FraudAlertRateOff"
            "Expected rule fires when the hourly ratio is 3 times above or below it.",
            "percentunit",
            query(
                f"{rate('fraud_alerts_total', 'instance')} / "
                f"{rate('fraud_transactions_scored_total', 'instance')}",
                "{{instance}} alerts / scored",
            ),
            query(
                f"max by (instance) ({metric('fraud_window_alert_ratio')})",
                "{{instance}} last scores (drift window)",
            ),
            query(
                f"max by (instance) ({metric('fraud_expected_alert_ratio')})",
                "{{instance}} expected by the model",
            ),
        ),
        stat.Panel()
        .title("Consumers up")
        .description("Consumers Prometheus scraped successfully (up) of those it knows.")
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .thresholds(steps((None, "red"), (1, "green")))
        .with_target(query(f"sum({metric('up')})", "up"))
        .with_target(query(f"count({metric('up')})", "known").ref_id("B")),
    ]


def model_panels() -> list[Panel]:
    """Return the panels about the model: scores, threshold, drift, version, reloads."""
    threshold = f"max({metric('fraud_alert_threshold')})"
    return [
        heatmap.Panel()
        .title("Score distribution")
        .description(
            "How many transactions scored in each bucket of fraud_anomaly_score, per interval. "
            "A transaction alerts when its score is above the model's threshold (next panel)."
        )
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .calculate(False)
        .with_target(
            query(
                f"sum by (le) (increase({metric('fraud_anomaly_score_bucket')}[$__rate_interval]))",
                "{{le}}",
            ).format(PromQueryFormat.HEATMAP)
        ),
        chart(
            "Score quantiles against the threshold",
            "Median, 90th and 99th percentile of the anomaly score (from the histogram's "
            "buckets) and the model's alert threshold (fraud_alert_threshold).",
            "short",
            query(quantile(0.5, "fraud_anomaly_score"), "p50"),
            query(quantile(0.9, "fraud_anomaly_score"), "p90"),
            query(quantile(0.99, "fraud_anomaly_score"), "p99"),
            query(threshold, "threshold"),
        ),
        chart(
            "Score drift (PSI)",
            "Population stability index of each consumer's recent scores against the scores "
            "of held-out normal rows kept in the bundle (fraud_score_drift). Above 0.25 for "
            "30 minutes, FraudScoreDrift fires. Empty for bundles without a score baseline.",
            "short",
            query(f"max by (instance) ({metric('fraud_score_drift')})", "{{instance}}"),
        )
        .thresholds(steps((None, "green"), (DRIFT_WARN, "yellow"), (DRIFT_ALERT, "red")))
        .thresholds_style(GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)),
        stat.Panel()
        .title("Model version")
        .description("The model bundle each consumer scores with (fraud_model_info).")
        .datasource(DATASOURCE)
        .height(8)
        .span(12)
        .text_mode(common.BigValueTextMode.NAME)
        .with_target(
            query(
                f"max by (instance, model_version) ({metric('fraud_model_info')})",
                "{{model_version}}",
            )
        ),
        chart(
            "Model reloads",
            "Newer bundles found in a directory of bundles, per interval: loaded (scoring "
            "switched to it between two batches) or refused (incomplete, invalid or other "
            "features; the consumer's model_refused log line says why).",
            "short",
            query(
                f"sum by (outcome) (increase({metric('fraud_model_reloads_total')}"
                "[$__rate_interval]))",
                "{{outcome}}",
            ),
        ).draw_style(common.GraphDrawStyle.BARS),
    ]


def latency_panels() -> list[Panel]:
    """Return the panels of latency and backlog."""
    return [
        chart(
            "End-to-end latency",
            "From a transaction's event time (else its broker timestamp) to its alert "
            "acknowledged by the broker (fraud_end_to_end_latency_seconds). FraudLatencyHigh "
            "fires when p99 stays above 5 s.",
            "s",
            query(quantile(0.5, "fraud_end_to_end_latency_seconds"), "p50"),
            query(quantile(0.9, "fraud_end_to_end_latency_seconds"), "p90"),
            query(quantile(0.99, "fraud_end_to_end_latency_seconds"), "p99"),
        ),
        chart(
            "Consumer lag per partition",
            "Messages behind each partition's high watermark (fraud_consumer_lag_messages).",
            "short",
            query(
                f"max by (topic, partition) ({metric('fraud_consumer_lag_messages')})",
                "{{topic}}[{{partition}}]",
            ),
        ),
        chart(
            "Micro-batch time",
            "Time to decode and score one micro-batch (fraud_scoring_batch_seconds).",
            "s",
            query(quantile(0.5, "fraud_scoring_batch_seconds"), "p50"),
            query(quantile(0.99, "fraud_scoring_batch_seconds"), "p99"),
        ),
    ]


def failure_panels() -> list[Panel]:
    """Return the panels of bad input and failed deliveries and commits."""
    failed_commits = metric("fraud_offset_commits_total", 'outcome="failed"')
    return [
        chart(
            "Dead letters by reason",
            "Messages sent to the dead-letter topic per interval, by reason "
            "(fraud_invalid_messages_total).",
            "short",
            query(
                f"sum by (reason) (increase({metric('fraud_invalid_messages_total')}"
                "[$__rate_interval]))",
                "{{reason}}",
            ),
        )
        .draw_style(common.GraphDrawStyle.BARS)
        .stacking(StackingConfig().mode(common.StackingMode.NORMAL)),
        chart(
            "Delivery failures and failed commits",
            "Alerts the broker did not acknowledge (fraud_alert_delivery_failures_total) and "
            "offset commits that failed (fraud_offset_commits_total), per interval.",
            "short",
            query(
                f"sum by (instance) (increase({metric('fraud_alert_delivery_failures_total')}"
                "[$__rate_interval]))",
                "{{instance}} alert deliveries failed",
            ),
            query(
                f"sum by (instance) (increase({failed_commits}[$__rate_interval]))",
                "{{instance}} commits failed",
            ),
        ),
    ]


def feedback_panels() -> list[Panel]:
    """Return the panels of the feedback loop: precision and recall, champion beside challenger.

    They read the recording rules of alerts.yml (each labels partition's committed total,
    whichever feedback member exports it) and the feedback process's own metrics, which come
    from another scrape job than the scorers': the `job` and `instance` variables do not apply.
    """
    alerts = "fraud:feedback_alerts:committed"
    frauds = "fraud:feedback_frauds:committed"
    return [
        stat.Panel()
        .title("Alert precision over the last day")
        .description(
            "Share of each model's alerts with a verdict that were fraud, over the last day "
            "(fraud:feedback_precision:ratio_rate1d), champion and challenger side by side."
        )
        .datasource(DATASOURCE)
        .height(6)
        .span(12)
        .unit("percentunit")
        .with_target(query("fraud:feedback_precision:ratio_rate1d", "{{role}} {{model_version}}")),
        stat.Panel()
        .title("Fraud recall over the last day")
        .description(
            "Share of the transactions reported as fraud in the last day (analysts, "
            "chargebacks) that each role had alerted on (fraud:feedback_recall:ratio_rate1d)."
        )
        .datasource(DATASOURCE)
        .height(6)
        .span(12)
        .unit("percentunit")
        .with_target(query("fraud:feedback_recall:ratio_rate1d", "{{role}}")),
        chart(
            "Alert precision, champion and challenger",
            "Share of alerts with a verdict that were fraud, over the last hour and day, "
            "against the model's precision on its validation split at the production fraud "
            "rate (fraud_model_validation_precision). FraudPrecisionBelowValidation fires "
            "when a day's precision is under half of it.",
            "percentunit",
            query("fraud:feedback_precision:ratio_rate1h", "{{role}} {{model_version}} (1 h)"),
            query("fraud:feedback_precision:ratio_rate1d", "{{role}} {{model_version}} (1 d)"),
            query(
                "max by (role, model_version) (fraud_model_validation_precision)",
                "{{role}} {{model_version}} validation",
            ),
        ),
        chart(
            "Fraud recall, champion and challenger",
            "Share of reported frauds each role had alerted on, over the last hour and day. "
            "FraudRecallFalling fires when a day's recall is under three quarters of the week "
            "before's.",
            "percentunit",
            query("fraud:feedback_recall:ratio_rate1h", "{{role}} (1 h)"),
            query("fraud:feedback_recall:ratio_rate1d", "{{role}} (1 d)"),
        ),
        chart(
            "Alerts per minute, champion and challenger",
            "Alerts the broker acknowledged per minute, by role and model version "
            "(fraud_model_alerts_total): the champion's on the alert topic, the challenger's "
            "would-be alerts on its own topic, scored on the same transactions.",
            "short",
            query(
                "sum by (role, model_version) "
                "(rate(fraud_model_alerts_total[$__rate_interval])) * 60",
                "{{role}} {{model_version}}",
            ),
        ),
        chart(
            "Verdicts on alerts",
            "Alerts that got their (first) verdict, per interval, by role and verdict.",
            "short",
            query(
                f"sum by (role, verdict) (increase({alerts}[$__rate_interval]))",
                "{{role}} {{verdict}}",
            ),
        ).draw_style(common.GraphDrawStyle.BARS),
        chart(
            "Reported frauds, caught and missed",
            "Transactions whose first verdict is fraud, per interval, by role and whether the "
            "role had alerted on them.",
            "short",
            query(
                f"sum by (role, caught) (increase({frauds}[$__rate_interval]))",
                "{{role}} caught={{caught}}",
            ),
        ).draw_style(common.GraphDrawStyle.BARS),
        chart(
            "Alert precision by stage over the last day",
            "Share of alerts with a verdict that were fraud, by role and the stages that "
            "raised them (supervised, autoencoder or both).",
            "percentunit",
            query(
                f'sum by (role, stage) (increase({alerts}{{verdict="fraud"}}[1d])) '
                f"/ sum by (role, stage) (increase({alerts}[1d]))",
                "{{role}} {{stage}}",
            ),
        ),
        chart(
            "Repeated verdicts, late alerts, dead letters",
            "Verdicts after a transaction's first, by first and later verdict (a legit then "
            "fraud pair is an alert cleared too early); alerts read after their role was "
            "settled as missing them; verdicts dead-lettered, by reason. Per interval.",
            "short",
            query(
                "sum by (first, later) "
                "(increase(fraud_feedback_repeated_verdicts_total[$__rate_interval]))",
                "{{first}} then {{later}}",
            ),
            query(
                "sum by (role) (increase(fraud_feedback_late_alerts_total[$__rate_interval]))",
                "late {{role}} alerts",
            ),
            query(
                "sum by (reason) (increase(fraud_feedback_invalid_verdicts_total"
                "[$__rate_interval]))",
                "dead letter {{reason}}",
            ),
        ),
        chart(
            "Feedback state",
            "Alerts each feedback member remembers (all of them, per role) and transactions "
            "whose first verdict is remembered, waiting for an alert or settled.",
            "short",
            query("max by (role) (fraud_feedback_alerts_indexed)", "alerts {{role}}"),
            query("sum by (state) (fraud_feedback_verdicts_remembered)", "verdicts {{state}}"),
        ),
        chart(
            "Feedback behind the alert topics",
            "How long ago every alert partition was last read to its end "
            "(fraud_feedback_alert_watermark_seconds): verdicts wait this long, plus the "
            "grace period, before a role without an alert counts as missing the fraud.",
            "s",
            query(
                "time() - max by (instance) (fraud_feedback_alert_watermark_seconds)",
                "{{instance}}",
            ),
        ),
    ]


def build() -> db.Dashboard:
    """Return the dashboard builder: five rows of panels and the two variables."""
    board = (
        db.Dashboard("fraudstream")
        .uid(UID)
        .description(
            "Scoring, alerts, model health and bad input of the fraudstream consumers; "
            "precision and recall from analysts' and chargebacks' verdicts."
        )
        .tags(["fraudstream", "generated"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone(common.TimeZoneBrowser)
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(db.DatasourceVariable("datasource").label("Datasource").type("prometheus"))
        .with_variable(
            db.QueryVariable("job")
            .label("Job")
            .datasource(DATASOURCE)
            .query("label_values(fraud_model_info, job)")
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(True)
            .all_value(".*")
            .multi(True)
        )
        .with_variable(
            db.QueryVariable("instance")
            .label("Consumer")
            .datasource(DATASOURCE)
            .query('label_values(fraud_model_info{job=~"$job"}, instance)')
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(True)
            .all_value(".*")
            .multi(True)
        )
    )
    rows = [
        ("Throughput and alerts", throughput()),
        ("Model", model_panels()),
        ("Latency and backlog", latency_panels()),
        ("Bad input and delivery", failure_panels()),
        ("Feedback: champion and challenger", feedback_panels()),
    ]
    for title, panels in rows:
        board = board.with_row(db.Row(title))
        for panel in panels:
            board = board.with_panel(panel)
    return board


def render() -> str:
    """Return the dashboard as the JSON text committed under deploy/grafana/dashboards."""
    return JSONEncoder(sort_keys=True, indent=2).encode(build().build()) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed JSON is out of date"
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is out of date: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(OUTPUT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
