"""Keep CPython's full garbage collections short: each one pauses the scoring loop.

A full collection walks every object the collector tracks. Once the model is loaded, a
consumer holds over 100,000 of them (numpy, the Kafka client, LightGBM and what it imports),
and each full collection paused the loop for tens of milliseconds: the tail of the alert
latency (BENCHMARKS.md, "Latency: where the tail came from"). `gc.freeze()` moves every
object alive at that moment into a permanent generation that collections skip; reference
counting still frees them when they go. Only reference cycles among frozen objects would
outlive their use, so a model reload unfreezes, collects once, and freezes again.
"""

from __future__ import annotations

import gc


def freeze() -> None:
    """Collect what is garbage now, then keep every live object out of later collections."""
    gc.collect()
    gc.freeze()


def refreeze() -> None:
    """Let one full collection see the frozen objects (a replaced model's cycles), then freeze."""
    gc.unfreeze()
    freeze()
