"""Command line: python -m consumer {run,replay,alerts,feedback,labelled} ... (every option also
as FRAUD_* env)."""

from __future__ import annotations

import os

# Before numpy loads: a micro-batch is a small matrix, and multithreaded BLAS on it costs ten
# times more than it saves (its threads spin against the decoder for the same cores).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Mapping  # noqa: E402

from consumer import logs, options  # noqa: E402
from consumer.errors import ConfigError, ConsumerError  # noqa: E402
from training.scoring.errors import TrainingError  # noqa: E402


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the command line; return the exit code (0 done, 1 runtime failure, 2 user error)."""
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    try:
        logs.configure(options.log_level(args, env))
        return args.handler(args, env)
    except (ConfigError, TrainingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConsumerError as exc:
        logs.log_event("failed", 40, error=str(exc))
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m consumer",
        description="Score a Kafka topic of transactions live, feed one, or follow its alerts.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, opts, handler, text in (
        ("run", options.RUN_OPTIONS, _run, "score an input topic, publish alerts and dead letters"),
        ("replay", options.REPLAY_OPTIONS, _replay, "feed a CSV into a topic, JSON or Avro"),
        ("alerts", options.ALERTS_OPTIONS, _alerts, "follow an alert topic and print alerts"),
        (
            "feedback",
            options.FEEDBACK_OPTIONS,
            _feedback,
            "join verdicts with the alerts and count precision and recall per role",
        ),
        (
            "labelled",
            options.LABELLED_OPTIONS,
            _labelled,
            "write transactions joined with their verdicts as a labelled CSV for `fit`",
        ),
    ):
        sub = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        options.add_options(sub, opts)
        sub.set_defaults(handler=handler)
    return parser


def _run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from consumer.service import install_stop_signals, run

    settings = options.run_settings(args, env)
    stop = install_stop_signals()
    run(settings, stop)
    return 0


def _replay(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from consumer.kafka import build_producer
    from consumer.replay import replay

    settings = options.replay_settings(args, env)
    sent = replay(settings, build_producer(settings))
    logs.log_event("replayed", messages=sent, topic=settings.topic)
    return 0


def _alerts(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from consumer.config import follower_config
    from consumer.follow import follow
    from consumer.kafka import build_client
    from consumer.service import install_stop_signals

    settings = options.follow_settings(args, env)
    group = f"fraudstream-alerts-{uuid.uuid4().hex[:8]}"  # private group: followers never compete
    source = build_client(follower_config(settings, group))
    stop = install_stop_signals()
    follow(
        source,
        settings.topic,
        sys.stdout,
        stop,
        settings.limit,
        settings.idle_timeout,
        raw=settings.output_json,
    )
    return 0


def _feedback(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from consumer.feedback.service import run
    from consumer.service import install_stop_signals

    settings = options.feedback_settings(args, env)
    stop = install_stop_signals()
    run(settings, stop)
    return 0


def _labelled(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from confluent_kafka.admin import AdminClient

    from consumer.config import reader_config
    from consumer.feedback.export import export
    from consumer.feedback.service import topic_partitions
    from consumer.kafka import build_client

    settings = options.labelled_settings(args, env)
    reader = build_client(reader_config(settings, "labelled"))
    try:
        topics = [settings.labels_topic, settings.transactions_topic]
        partitions = topic_partitions(reader, topics)
        admin = AdminClient(dict(settings.kafka.client_config()))
        summary = export(settings, reader, admin, partitions)
    finally:
        reader.close()
    print(
        f"wrote {summary['rows']} rows to {settings.out}: {summary['fraud']} frauds and "
        f"{summary['legit_confirmed']} legitimate by their verdict, {summary['legit_matured']} "
        f"legitimate without a verdict past the maturity; left out {summary['too_young']} "
        f"younger without a verdict, {summary['unreadable']} unreadable, "
        f"{summary['repeated']} repeated; {summary['verdicts_without_transaction']} "
        "transactions with a verdict not found in the transactions topic"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
