"""The reference article's way, for scale: one Keras `model.predict` per consumed message.

    python -m bench.keras_per_message --bootstrap-servers HOST:PORT --topic T --model-dir M \
        [--messages N]

Prints {"rate": messages per second, "messages": N} as JSON. Run by `python -m bench`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from confluent_kafka import Consumer

from bench.kafka import unique
from training.scoring.bundle import load_detector


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    import keras  # the article's dependency; the product scores without it

    detector = load_detector(args.model_dir)
    model = keras.models.load_model(args.model_dir / "network-0.keras")
    names = detector.feature_names
    model.predict(np.zeros((1, len(names))), verbose=0)  # build the graph before timing
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": unique("reference"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([args.topic])
    scored, started = 0, 0.0
    try:
        while scored < args.messages:
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                continue
            if not scored:
                started = time.perf_counter()
            transaction = json.loads(message.value() or b"")
            row = np.array([[transaction[name] for name in names]], dtype=np.float64)
            scaled = detector.scaler.transform(row)
            reconstruction = model.predict(scaled, verbose=0)
            float(np.mean(np.square(scaled - reconstruction)))  # the article's score
            scored += 1
    finally:
        consumer.close()
    rate = scored / (time.perf_counter() - started)
    print(json.dumps({"rate": rate, "messages": scored}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
