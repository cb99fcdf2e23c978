"""Run the benchmarks against a local Kafka broker and write BENCHMARKS.md.

    .venv/bin/python -m bench [--messages 300000] [--only fit,raw,throughput,...]

Starts `scripts/kafka-local` unless --bootstrap-servers is given, and `scripts/registry-local`
for the Avro phase unless --schema-registry-url is given. Phases, in order: fit (its bundle and
CSV feed the rest), latency (a warm-up, then 5,000 and 20,000 tx/s, a score record per
transaction), raw, throughput (one `consumer run`), challenger (the same with a challenger
beside the champion), scaleout (2 and 3 processes), autoencoder (one process with a bundle
fitted `--stage autoencoder`, when the default bundle has the supervised stage), peer (the same
job as a Quix Streams application), raw again, reference (Keras per message), avro (raw consume
and one `consumer run` on the same rows as Avro), feedback (one `consumer feedback` process over
a backlog of verdicts), decoders.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bench import (
    consumer_throughput,
    decoding,
    feedback_process,
    fit_benchmark,
    latency,
    report,
)
from bench.kafka import (
    REPO,
    avro_encoder,
    create_topics,
    delete_topics,
    fill,
    local_broker,
    unique,
)
from bench.registry import local_registry

PHASES = (
    "fit", "raw", "throughput", "challenger", "autoencoder", "reference", "latency", "scaleout",
    "peer", "avro", "feedback", "decoders",
)  # fmt: skip
KAFKA_PHASES = {
    "raw", "throughput", "challenger", "autoencoder", "reference", "latency", "scaleout", "peer",
    "avro", "feedback",
}  # fmt: skip
PARTITIONS = 4


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="fraudstream-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: dict[str, Any] = {
        "started": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "machine": machine(),
        "command": "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]),
    }
    phases = set(args.only.split(",")) if args.only else set(PHASES)
    data = fit_benchmark.synthesize(args.fit_rows, work / "transactions.csv", work / "synth.log")
    model_dir = args.model_dir
    if "fit" in phases:
        say(f"fit on {args.fit_rows:,} rows")
        run = fit_benchmark.fit(
            data, args.fit_rows, work / f"model-{time.time_ns()}", work / "fit.log"
        )
        results["fit"] = dataclasses.asdict(run)
        model_dir = model_dir or run.model_dir
    if model_dir is None:
        raise SystemExit("--model-dir is needed when the fit phase is left out")
    autoencoder_dir = None
    if "autoencoder" in phases and has_stage(Path(model_dir)):
        say("fit --stage autoencoder, for the throughput without the supervised stage")
        run = fit_benchmark.fit(
            data, args.fit_rows, work / f"model-ae-{time.time_ns()}", work / "fit-ae.log",
            "--stage", "autoencoder",
        )  # fmt: skip
        autoencoder_dir = run.model_dir
    rows = pd.read_csv(data)
    if phases & KAFKA_PHASES:
        with local_broker(args.bootstrap_servers, work) as bootstrap:
            results |= kafka_benchmarks(
                bootstrap, args, phases, rows, Path(model_dir), autoencoder_dir, work
            )
    if "decoders" in phases:
        say("decoders")
        names = tuple(json.loads((Path(model_dir) / "manifest.json").read_text())["features"])
        results["decoders"] = decoding.decoder_rates(rows.head(decoding.BATCH), names)
    results["duration_s"] = time.monotonic() - started
    (work / "results.json").write_text(json.dumps(results, indent=2, default=str))
    section = report.render(results)
    print(section)
    if args.write:
        report.write_into(args.write, section)
        say(f"wrote {args.write}")
    say(f"logs and results in {work}")
    return 0


def kafka_benchmarks(
    bootstrap: str,
    args: argparse.Namespace,
    phases: set[str],
    rows: pd.DataFrame,
    model_dir: Path,
    autoencoder_dir: Path | None,
    work: Path,
) -> dict[str, Any]:
    """Run the phases that need the broker; raw consume always, as every ratio's base."""
    results: dict[str, Any] = {"groups": [], "stage": has_stage(model_dir)}
    if "latency" in phases:
        results["latency"] = latency_runs(bootstrap, args, model_dir, work)
    topic = unique("bench")
    create_topics(bootstrap, [(topic, PARTITIONS), (f"{topic}-alerts", 1), (f"{topic}-dlq", 1)])
    try:
        size = fill(bootstrap, topic, rows, args.messages)
        results["topic"] = (
            f"{args.messages:,} messages of {size / args.messages:.0f} bytes, "
            f"{PARTITIONS} partitions"
        )
        say(f"raw consume of {results['topic']}")
        before = consumer_throughput.raw_rate(bootstrap, topic, args.messages)
        counts = ([1] if {"throughput", "scaleout"} & phases else []) + (
            [2, 3] if "scaleout" in phases else []
        )
        for n in counts:
            say(f"{n} scoring process(es)")
            group = consumer_throughput.group_rate(
                bootstrap, topic, PARTITIONS, args.messages, model_dir, n, work
            )
            results["groups"].append(dataclasses.asdict(group))
        if "challenger" in phases:
            say("1 scoring process with a challenger (a second copy of the default bundle)")
            results["challenger"] = challenger_run(bootstrap, topic, args, model_dir, work)
        if autoencoder_dir is not None:
            say("1 scoring process, autoencoder-only bundle")
            group = consumer_throughput.group_rate(
                bootstrap, topic, PARTITIONS, args.messages, autoencoder_dir, 1, work
            )
            results["autoencoder_only"] = dataclasses.asdict(group)
        if "peer" in phases:
            say("peer: the same job as a Quix Streams application")
            results["peer"] = peer(bootstrap, topic, model_dir, args.messages, work)
        # Raw consume swings by a fifth between reads on a shared machine: the base of every
        # ratio is the mean of one read before the scoring runs and one after them.
        say("raw consume again")
        after = consumer_throughput.raw_rate(bootstrap, topic, args.messages)
        results["raw_runs"] = [before, after]
        results["raw"] = (before + after) / 2
        if "reference" in phases:
            say("reference: Keras per message")
            results["reference"] = reference(bootstrap, topic, model_dir, args.reference_messages)
    finally:
        delete_topics(bootstrap, [topic, f"{topic}-alerts", f"{topic}-dlq"])
    if "avro" in phases:
        with local_registry(args.schema_registry_url, work) as registry:
            results["avro"] = avro_run(bootstrap, registry.url, args, rows, model_dir, work)
            memory = registry.memory()
            results["registry"] = {
                "start_s": registry.start_s,
                "rss": memory[0] if memory else None,
                "pss": memory[1] if memory else None,
            }
    if "feedback" in phases:
        say(f"feedback: one process over {args.verdicts:,} verdicts, {args.alerts:,} alerts")
        run = feedback_process.feedback_rate(bootstrap, work, args.verdicts, args.alerts)
        results["feedback"] = dataclasses.asdict(run)
    return results


def avro_run(
    bootstrap: str,
    registry_url: str,
    args: argparse.Namespace,
    rows: pd.DataFrame,
    model_dir: Path,
    work: Path,
) -> dict[str, Any]:
    """Fill a topic with the same rows as Avro (as `replay --format avro` writes them); read it
    raw before and after one `consumer run --schema-registry-url` scores it."""
    topic = unique("bench-avro")
    create_topics(bootstrap, [(topic, PARTITIONS), (f"{topic}-alerts", 1), (f"{topic}-dlq", 1)])
    try:
        encode = avro_encoder(registry_url, topic, rows)
        size = fill(bootstrap, topic, rows, args.messages, encode)
        described = (
            f"{args.messages:,} Avro messages of {size / args.messages:.0f} bytes, "
            f"{PARTITIONS} partitions"
        )
        say(f"raw consume of {described}")
        before = consumer_throughput.raw_rate(bootstrap, topic, args.messages)
        say("1 scoring process, Avro input through the Schema Registry")
        group = consumer_throughput.group_rate(
            bootstrap, topic, PARTITIONS, args.messages, model_dir, 1, work,
            ("--schema-registry-url", registry_url),
        )  # fmt: skip
        say("raw consume of the Avro topic again")
        after = consumer_throughput.raw_rate(bootstrap, topic, args.messages)
    finally:
        delete_topics(bootstrap, [topic, f"{topic}-alerts", f"{topic}-dlq"])
    return {
        "topic": described,
        "raw_runs": [before, after],
        "raw": (before + after) / 2,
        "group": dataclasses.asdict(group),
    }


def peer(
    bootstrap: str, topic: str, model_dir: Path, messages: int, work: Path
) -> dict[str, Any] | None:
    """Run bench.quix_peer on the topic; None when quixstreams is not installed."""
    try:
        import quixstreams  # noqa: F401
    except ImportError:
        say("no quixstreams: the peer row is left out (see BENCHMARKS.md to install it)")
        return None
    with open(work / "quix-peer.log", "wb") as log:
        result = subprocess.run(
            [sys.executable, "-m", "bench.quix_peer", "--bootstrap-servers", bootstrap,
             "--topic", topic, "--model-dir", str(model_dir), "--messages", str(messages)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True, check=True,
        )  # fmt: skip
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def challenger_run(
    bootstrap: str, topic: str, args: argparse.Namespace, model_dir: Path, work: Path
) -> dict[str, Any]:
    """Score the topic with one process, alternately without and with a challenger (the same
    bundle, its version renamed), `--challenger-pairs` times; return every run.

    On a shared machine one run's rate swings with what else runs: pairs run back to back,
    and each pair's ratio, wall-clock and per CPU-second, is what counts.
    """
    challenger = work / f"challenger-{time.time_ns()}"
    shutil.copytree(model_dir, challenger)
    manifest = json.loads((challenger / "manifest.json").read_text())
    manifest["model_version"] = "challenger-" + manifest["model_version"]
    (challenger / "manifest.json").write_text(json.dumps(manifest))
    shadow = f"{topic}-challenger"
    create_topics(bootstrap, [(shadow, 1)])
    extra = ["--challenger-model-dir", str(challenger), "--challenger-alert-topic", shadow]
    pairs = []
    try:
        for _ in range(args.challenger_pairs):
            alone, beside = (
                dataclasses.asdict(
                    consumer_throughput.group_rate(
                        bootstrap, topic, PARTITIONS, args.messages, model_dir, 1, work, options
                    )
                )
                for options in ([], extra)
            )
            pairs.append({"alone": alone, "with_challenger": beside})
    finally:
        delete_topics(bootstrap, [shadow])
    return {"pairs": pairs}


def latency_runs(
    bootstrap: str, args: argparse.Namespace, model_dir: Path, work: Path
) -> list[dict[str, Any]]:
    """Measure latency at each offered rate, after a warm-up run at the highest whose figures
    are dropped.

    First of the broker's phases: on 2 cores, what the others leave behind (a 250 MB topic's
    pages written back to disk, its files deleted a minute after the topic) and a broker
    that has not yet compiled its hot paths both stall appends for 100-250 ms, and those
    stalls, not the scorer, were the p99 (each alert's shares in latency-*-alerts.json).
    """
    stream = fit_benchmark.synthesize(
        args.latency_rows, work / "latency.csv", work / "synth.log", fraud_rate=0.01
    )
    warmup = max(args.rates)
    say(f"latency warm-up at {warmup:,.0f} tx/s for {args.latency_warmup:g} s")
    latency.latency_at(bootstrap, warmup, args.latency_warmup, model_dir, stream, work)
    runs = []
    for rate in args.rates:
        say(f"latency at {rate:,.0f} tx/s for {args.latency_seconds:g} s")
        level = latency.latency_at(bootstrap, rate, args.latency_seconds, model_dir, stream, work)
        runs.append(dataclasses.asdict(level))
    return runs


def has_stage(model_dir: Path) -> bool:
    """Tell whether a bundle has the supervised stage."""
    return "supervised" in json.loads((model_dir / "manifest.json").read_text())


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def reference(bootstrap: str, topic: str, model_dir: Path, messages: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.keras_per_message", "--bootstrap-servers", bootstrap,
         "--topic", topic, "--model-dir", str(model_dir), "--messages", str(messages)],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def machine() -> str:
    """Describe this machine: CPU model, cores, memory, OS, Python and client versions."""
    import confluent_kafka

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, librdkafka "
        f"{confluent_kafka.libversion()[0]}, local Apache Kafka broker (scripts/kafka-local); "
        f"load average {load:.1f} at the start (the machine is shared)"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--bootstrap-servers", help="use this broker (default: start one)")
    parser.add_argument(
        "--schema-registry-url", help="use this Schema Registry (default: start one)"
    )
    parser.add_argument(
        "--messages", type=int, default=300_000, help="throughput topic size (300,000)"
    )
    parser.add_argument(
        "--fit-rows", type=int, default=284_807, help="synthetic rows for fit (284,807)"
    )
    parser.add_argument(
        "--reference-messages", type=int, default=200, help="messages the Keras way scores (200)"
    )
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[5_000.0, 20_000.0],
        help="offered tx/s (5000 20000)",
    )
    parser.add_argument(
        "--latency-seconds",
        type=float,
        default=30.0,
        help="seconds per offered rate (30: over 1,000 alerts at 5,000 tx/s for the p99)",
    )
    parser.add_argument(
        "--latency-warmup",
        type=float,
        default=30.0,
        help="seconds of a warm-up run at the highest rate, whose figures are dropped (30)",
    )
    parser.add_argument(
        "--latency-rows",
        type=int,
        default=20_000,
        help="rows of the replayed CSV, in a loop (20,000)",
    )
    parser.add_argument(
        "--challenger-pairs",
        type=int,
        default=3,
        help="runs without and with a challenger, back to back, in the challenger phase (3)",
    )
    parser.add_argument(
        "--verdicts", type=int, default=400_000, help="verdicts the feedback phase reads (400,000)"
    )
    parser.add_argument(
        "--alerts", type=int, default=200_000, help="alerts the feedback phase indexes (200,000)"
    )
    parser.add_argument(
        "--only", help=f"comma-separated phases of {','.join(PHASES)}; all without it"
    )
    parser.add_argument("--model-dir", type=Path, help="bundle to score with; without it, fit's")
    parser.add_argument(
        "--work",
        type=Path,
        help="keep data, logs and results.json here; a new temporary directory without it",
    )
    parser.add_argument(
        "--write",
        type=Path,
        default=REPO / "BENCHMARKS.md",
        help="Markdown file to update (BENCHMARKS.md)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
