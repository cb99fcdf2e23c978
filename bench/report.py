"""Render a benchmark run as Markdown and put it into BENCHMARKS.md between two markers."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench:begin (written by python -m bench; edit the text around it) -->"
END = "<!-- bench:end -->"


def rate_row(number: str, what: str, rate: float, raw: float | None, unit: str = "msg/s") -> str:
    """A table row for a rate, with its ratio to the raw-consume rate.

    >>> rate_row("2", "scoring", 50_000, 200_000)
    '| 2 | scoring | 50,000 msg/s | 0.250 |'
    """
    ratio = f"{rate / raw:.3f}" if raw else "n/a (no raw consume)"
    return f"| {number} | {what} | {rate:,.0f} {unit} | {ratio} |"


def time_row(number: str, what: str, seconds: float, raw: float | None) -> str:
    """A table row for a duration, with the number of messages raw consume reads meanwhile.

    >>> time_row("4", "p99", 0.012, 200_000)
    '| 4 | p99 | 12.0 ms | 2,400 raw msgs |'
    """
    shown = f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.1f} s"
    ratio = f"{seconds * raw:,.0f} raw msgs" if raw else "n/a (no raw consume)"
    return f"| {number} | {what} | {shown} | {ratio} |"


def per_cpu_row(number: str, what: str, run: dict[str, Any]) -> str:
    """A row for a scoring run's messages per CPU-second, and the machine's load then: a rate
    a busy machine (which starves the process) does not lower.

    >>> per_cpu_row("2", "x", {"rate": 50_000, "cpu_cores": 0.5, "load": 3.0})
    '| 2 | x | 100,000 msg/CPU-s | n/a (0.50 cores, load average 3.0) |'
    """
    per_cpu = run["rate"] / run["cpu_cores"] if run["cpu_cores"] else float("nan")
    load = f", load average {run['load']:.1f}" if "load" in run else ""
    busy = f"n/a ({run['cpu_cores']:.2f} cores{load})"
    return f"| {number} | {what} | {per_cpu:,.0f} msg/CPU-s | {busy} |"


def plain_row(number: str, what: str, figure: str, ratio: str = "n/a") -> str:
    return f"| {number} | {what} | {figure} | {ratio} |"


def mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


def render(results: dict[str, Any]) -> str:
    """Return the Markdown of a run: where, how, then one table of every figure."""
    raw = results.get("raw")
    lines = [
        f"Run {results['started']} on {results['machine']}.",
        f"Command: `{results['command']}` ({results['duration_s']:.0f} s in all).",
        "",
        "Ratios are to the raw-consume rate of this run: a rate divided by it; a duration as "
        "the number of messages raw consume reads in that time; a size has none.",
        "",
        "| # | figure | value | ratio to raw consume |",
        "|---|---|---|---|",
    ]
    if raw:
        what = f"raw consume, bare consumer ({results['topic']})"
        if results.get("raw_runs"):
            what += ", the mean of the two reads below"
        lines.append(rate_row("1", what, raw, raw))
        for k, each in enumerate(results.get("raw_runs", [])):
            when = "before" if k == 0 else "after"
            lines.append(rate_row("1", f"raw consume, the read {when} the scoring runs", each, raw))
    groups = {g["processes"]: g for g in results.get("groups", [])}
    bundle = "autoencoder + supervised stage" if results.get("stage") else "autoencoder only"
    if 1 in groups:
        one = groups[1]
        what = f"`consumer run`, one process, end to end (default bundle: {bundle})"
        lines.append(rate_row("2", what, one["rate"], raw))
        lines.append(per_cpu_row("2", "the same, per CPU-second it got", one))
        lines.append(
            plain_row("2", "committed offsets reached the end", str(one["committed_to_end"]))
        )
    if "autoencoder_only" in results:
        alone = results["autoencoder_only"]
        what = "`consumer run`, one process, end to end (bundle fitted `--stage autoencoder`)"
        lines.append(rate_row("2", what, alone["rate"], raw))
        lines.append(per_cpu_row("2", "the same, per CPU-second it got", alone))
        what = "committed offsets reached the end (autoencoder only)"
        lines.append(plain_row("2", what, str(alone["committed_to_end"])))
    if "reference" in results:
        what = "reference way: one Keras `model.predict` per message"
        lines.append(rate_row("3", what, results["reference"]["rate"], raw))
    if results.get("peer"):
        peer = results["peer"]["rate"]
        what = "peer: a Quix Streams Application, JSON deserializer, numpy score per message"
        lines.append(rate_row("3", what, peer, raw))
        if 1 in groups:
            ratio = f"{groups[1]['rate'] / peer:.1f}"
            lines.append(plain_row("3", "`consumer run` (2) ÷ the peer", ratio))
    for run in results.get("latency", []):
        load = f"{run['offered']:,.0f} tx/s offered ({run['achieved']:,.0f} sent)"
        lines.append(rate_row("4", f"offered load: {load}", run["achieved"], raw, "tx/s"))
        if "cpu_cores" in run:
            busy = f"{run['cpu_cores']:.2f} cores, load average {run['load']:.1f}"
            what = f"{run['offered']:,.0f} tx/s: the scorer's CPU while the stream ran; the machine"
            lines.append(plain_row("4", what, busy))
        for view, label in (
            ("score_appended", "score records: event → score record appended on the broker"),
            ("score_scorer", "score records, the scorer's share: transaction → record appended"),
            ("histogram", "consumer histogram (event → alert acked)"),
            ("appended", "alerts: event → alert appended on the broker"),
            ("scored", "alerts: event → scored_at"),
            ("upstream", "upstream: event → its transaction appended (replay, broker)"),
            ("scorer", "the scorer's share: transaction appended → alert appended"),
        ):
            if view not in run:
                continue
            q = run[view]
            counted = "records" if view in ("score_appended", "score_scorer") else "alerts"
            for key in ("p50", "p99", "max"):
                if q[key] is not None:
                    name = f"{run['offered']:,.0f} tx/s, {label}, {key} ({q['count']:,} {counted})"
                    lines.append(time_row("4", name, q[key], raw))
    for run in results.get("latency", [])[:1]:
        lines.append(time_row("5", "start-up to /readyz 200 (empty topic)", run["ready_s"], raw))
        what = f"peak RSS scoring {run['offered']:,.0f} tx/s"
        lines.append(plain_row("5", what, mib(run["peak_rss"])))
    if 1 in groups:
        one = groups[1]
        what = "start-up to /readyz 200 (scoring a backlog as it answers)"
        lines.append(time_row("5", what, one["ready_s"], raw))
        what = "peak RSS scoring the backlog (librdkafka's prefetch queue)"
        lines.append(plain_row("5", what, mib(one["peak_rss"])))
        lines.append(plain_row("5", "CPU scoring the backlog", f"{one['cpu_cores']:.2f} cores"))
    for n, group in sorted(groups.items()):
        what = f"scale-out: {n} process{'es' if n > 1 else ''} in one group"
        lines.append(rate_row("6", what, group["rate"], raw))
    if "fit" in results:
        fit = results["fit"]
        what = f"`fit` with defaults, {fit['rows']:,} synthetic rows: wall"
        lines.append(time_row("7", what, fit["measured"]["wall"], raw))
        lines.append(
            rate_row(
                "7", "`fit`: rows per second", fit["rows"] / fit["measured"]["wall"], raw, "rows/s"
            )
        )
        lines.append(plain_row("7", "`fit`: peak RSS", mib(fit["measured"]["peak_rss"])))
        quality = f"ROC AUC {fit['test_roc_auc']:.3f}, AP {fit['test_average_precision']:.3f}"
        if fit.get("test_average_precision_at_prevalence") is not None:
            at = fit["test_average_precision_at_prevalence"]
            quality += f", AP at the production fraud rate {at:.3f}"
        lines.append(plain_row("7", "`fit`: test split", quality))
        stages = "autoencoder + supervised stage" if fit.get("stage") else "autoencoder only"
        lines.append(plain_row("7", "`fit`: the bundle's stages", stages))
    if "avro" in results:
        avro = results["avro"]
        avro_raw = avro["raw"]
        what = f"Avro: raw consume, bare consumer ({avro['topic']}), the mean of two reads"
        lines.append(rate_row("9", what, avro_raw, raw))
        for k, each in enumerate(avro["raw_runs"]):
            when = "before" if k == 0 else "after"
            lines.append(rate_row("9", f"Avro: raw consume, the read {when}", each, raw))
        group = avro["group"]
        what = f"Avro: `consumer run --schema-registry-url`, one process ({bundle})"
        lines.append(rate_row("9", what, group["rate"], raw))
        lines.append(per_cpu_row("9", "Avro: the same, per CPU-second it got", group))
        what = "Avro: the same, as a share of the Avro topic's own raw consume"
        lines.append(plain_row("9", what, f"{group['rate'] / avro_raw:.3f}"))
        lines.append(
            plain_row(
                "9", "Avro: committed offsets reached the end", str(group["committed_to_end"])
            )
        )
        lines.append(
            plain_row("9", "Avro: CPU scoring the backlog", f"{group['cpu_cores']:.2f} cores")
        )
    registry = results.get("registry")
    if registry and registry.get("start_s") is not None:
        lines.append(
            time_row(
                "10",
                "Schema Registry (registry-local): start to the API answering",
                registry["start_s"],
                raw,
            )
        )
        lines.append(
            plain_row(
                "10",
                "Schema Registry: resident memory (RSS) after the Avro run",
                mib(registry["rss"]),
            )
        )
        lines.append(
            plain_row("10", "Schema Registry: proportional memory (PSS)", mib(registry["pss"]))
        )
    for name, rate in results.get("decoders", {}).items():
        lines.append(rate_row("8", f"decoding: {name}", rate, raw, "msg/CPU-s"))
    if "challenger" in results:
        lines += challenger_rows(results["challenger"]["pairs"], raw)
    if "feedback" in results:
        fb = results["feedback"]
        what = (
            f"`consumer feedback`, one process: verdicts read, joined and committed "
            f"({fb['verdicts']:,} verdicts, {fb['alerts']:,} alerts of two roles, "
            f"{fb['partitions']} labels partitions; all read: {fb['all_read']})"
        )
        lines.append(rate_row("10", what, fb["rate"], raw, "verdicts/s"))
        lines.append(time_row("10", "feedback start-up to /readyz 200 (index rebuilt)",
                              fb["ready_s"], raw))  # fmt: skip
        lines.append(plain_row("10", "feedback CPU and peak RSS",
                               f"{fb['cpu_cores']:.2f} cores, {mib(fb['peak_rss'])}"))  # fmt: skip
        per_cpu = fb["rate"] / max(fb["cpu_cores"], 1e-9)
        what = "`consumer feedback`: verdicts per CPU-second (the rate over the cores it had)"
        lines.append(plain_row("10", what, f"{per_cpu:,.0f} verdicts/CPU-s"))
    return "\n".join(lines) + "\n"


def challenger_rows(pairs: list[dict[str, Any]], raw: float | None) -> list[str]:
    """Rows of the challenger phase: each pair's rates, and the median ratios of the pairs.

    >>> run = lambda rate, cores: {"rate": rate, "cpu_cores": cores}
    >>> rows = challenger_rows([{"alone": run(100.0, 1.0), "with_challenger": run(80.0, 1.0)}],
    ...                        None)
    >>> rows[-1]
    '| 9 | with a challenger / without, median of 1 pairs: wall-clock 0.800, per CPU-second 0.800 | 0.800 | n/a |'
    """  # noqa: E501 (a doctest's expected output is one line)
    lines, wall, per_cpu = [], [], []
    for k, pair in enumerate(pairs, 1):
        alone, beside = pair["alone"], pair["with_challenger"]
        for name, run in (("without", alone), ("with", beside)):
            what = f"`consumer run`, one process, pair {k}, {name} a challenger"
            lines.append(rate_row("9", what + f" ({run['cpu_cores']:.2f} cores)", run["rate"], raw))
        wall.append(beside["rate"] / alone["rate"])
        per_cpu.append(
            (beside["rate"] / max(beside["cpu_cores"], 1e-9))
            / (alone["rate"] / max(alone["cpu_cores"], 1e-9))
        )
    middle_wall, middle_cpu = statistics.median(wall), statistics.median(per_cpu)
    what = (
        f"with a challenger / without, median of {len(pairs)} pairs: wall-clock "
        f"{middle_wall:.3f}, per CPU-second {middle_cpu:.3f}"
    )
    lines.append(plain_row("9", what, f"{middle_wall:.3f}"))
    return lines


def write_into(path: Path, section: str) -> None:
    """Replace what lies between the markers in `path` (or append both markers and `section`)."""
    text = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n{section}{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text + ("\n" if text else "") + block + "\n"
    path.write_text(text)
