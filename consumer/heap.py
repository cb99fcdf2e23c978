"""Keep the heap's bookkeeping out of the scoring loop: garbage collection and malloc.

Garbage collection. A full collection walks every object the collector tracks. Once the model
is loaded, a consumer holds over 100,000 of them (numpy, the Kafka client, LightGBM and what
it imports), and each full collection paused the loop for 30-80 ms: the tail of the alert
latency (BENCHMARKS.md). `gc.freeze()` moves every object alive at that moment into a
permanent generation that collections skip; reference counting still frees them when they
go. Only reference cycles among frozen objects would outlive their use, so a model reload
unfreezes, collects once, and freezes again.

malloc. glibc serves every block of 128 KiB or more with fresh pages from the kernel and hands
them back when it is freed. A micro-batch's numpy temporaries are that size (1,000 rows of 29
doubles is 232 KB), so each one page-faulted its memory in again: a third of the
autoencoder's time per batch. Raising the two thresholds keeps such blocks in malloc's heap
for reuse, at the cost of holding on to what the largest batch used.
"""

from __future__ import annotations

import ctypes
import gc
import sys

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap (glibc caps the threshold at 32 MiB on 64 bits);
# freed memory above twice it at the top of the heap goes back to the kernel.
MMAP_THRESHOLD_BYTES = 16 * 2**20
TRIM_THRESHOLD_BYTES = 2 * MMAP_THRESHOLD_BYTES


def freeze() -> None:
    """Collect what is garbage now, then keep every live object out of later collections."""
    gc.collect()
    gc.freeze()


def refreeze() -> None:
    """Let one full collection see the frozen objects (a replaced model's cycles), then freeze."""
    gc.unfreeze()
    freeze()


def reuse_large_blocks() -> bool:
    """Ask glibc's malloc to keep large freed blocks for reuse; return whether it agreed.

    Elsewhere (macOS, musl) there is no `mallopt` and nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
