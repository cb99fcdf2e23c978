"""Freezing the heap: start-up objects leave the collector's walk, and a refreeze frees cycles."""

from __future__ import annotations

import gc
import weakref

from consumer import heap


class Node:
    """An object that can take part in a reference cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    """Make two objects that refer to each other and are otherwise unreachable."""
    first, second = Node(), Node()
    first.other, second.other = second, first
    return weakref.ref(first)


def test_frozen_objects_are_skipped_by_collections_until_a_refreeze():
    try:
        heap.freeze()
        assert gc.get_freeze_count() > 0
        before = gc.get_freeze_count()
        alive = cycle()  # made after the freeze: an ordinary collection frees it
        gc.collect()
        assert alive() is None and gc.get_freeze_count() == before

        kept = cycle()
        gc.freeze()  # like a model loaded, then frozen, then replaced
        gc.collect()
        assert kept() is not None  # a frozen cycle survives every collection
        heap.refreeze()
        assert kept() is None
    finally:
        gc.unfreeze()
