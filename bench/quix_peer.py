"""The peer: the same job written as a Quix Streams user would write it, in its own process.

    python -m bench.quix_peer --bootstrap-servers B --topic T --model-dir M --messages N

A `quixstreams.Application` reads the topic with its JSON deserializer, scores each message
with the numpy scorer (a one-row matrix: the model bundle's own runtime, both stages), and sends
the alerts to TOPIC-alerts with its JSON serializer. It prints, as one JSON line, the rate
between the moments 10% and 90% of the messages were scored, as every rate of the benchmark.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from quixstreams import Application
from threadpoolctl import threadpool_limits

from bench.consumer_throughput import window_rate
from training.scoring.bundle import load_scorer

SAMPLE_EVERY = 1000  # messages between two (time, count) samples


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threadpool_limits(limits=1, user_api="blas")  # as `consumer run`: one row needs no threads
    _, scorer = load_scorer(args.model_dir)
    names = scorer.feature_names
    app = Application(
        broker_address=args.bootstrap_servers,
        consumer_group=f"quix-peer-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        loglevel="WARNING",
        use_changelog_topics=False,
        consumer_extra_config={"fetch.max.bytes": 64 * 1024 * 1024},  # as the scorer's
    )
    source = app.topic(args.topic, value_deserializer="json")
    alerts = app.topic(f"{args.topic}-alerts", value_serializer="json")
    samples: list[tuple[float, float]] = [(time.perf_counter(), 0.0)]
    scored = [0]

    def score(transaction: dict[str, Any]) -> dict[str, Any]:
        result = scorer.score(np.array([[transaction[name] for name in names]]))
        scored[0] += 1
        if scored[0] % SAMPLE_EVERY == 0 or scored[0] == args.messages:
            samples.append((time.perf_counter(), float(scored[0])))
            if scored[0] >= args.messages:
                app.stop()
        return {
            "transaction_id": transaction["transaction_id"],
            "score": float(result.score[0]),
            "alert": bool(result.alerts[0]),
        }

    sdf = app.dataframe(source).apply(score)
    sdf.filter(lambda record: record["alert"]).to_topic(alerts)
    app.run()
    rate = window_rate(samples, args.messages)
    print(json.dumps({"rate": rate, "messages": scored[0]}))
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.quix_peer", description=__doc__)
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--messages", type=int, required=True)
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
