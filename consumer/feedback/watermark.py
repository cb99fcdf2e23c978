"""The alert watermark: a time up to which every alert partition has been read to its end. Pure.

The edge asks the brokers for each alert partition's end now and then (the last stable offset,
as a `read_committed` reader sees it) and notes the moment it asked. Once the reader's position
in a partition reaches an end the brokers gave, every alert committed to that partition before
the question was asked has been read. The watermark is the earliest such moment over all
partitions: it waits for the slowest partition, stops while the reader falls behind or cannot
reach the brokers, and keeps moving on an idle topic (docs/feedback.md, "Clocks").
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping

Partition = tuple[str, int]
MAX_PENDING = 64  # ends remembered per partition while the reader is behind them


class AlertWatermark:
    """Track, per alert partition, the latest moment its end is known to have been read.

    >>> mark = AlertWatermark([("alerts", 0), ("alerts", 1)])
    >>> mark.asked(100.0, {("alerts", 0): 5, ("alerts", 1): 7})
    >>> mark.reached({("alerts", 0): 5, ("alerts", 1): 6}), mark.value
    (False, -inf)
    >>> mark.reached({("alerts", 1): 7}), mark.value
    (True, 100.0)
    """

    def __init__(self, partitions: Iterable[Partition]):
        self._read_up_to = {partition: -math.inf for partition in partitions}
        self._ends: dict[Partition, deque[tuple[float, int]]] = {
            partition: deque(maxlen=MAX_PENDING) for partition in self._read_up_to
        }
        self._positions: dict[Partition, int] = {}

    @property
    def value(self) -> float:
        """Return the watermark: -inf until every partition's end has been reached once."""
        return min(self._read_up_to.values(), default=-math.inf)

    @property
    def caught_up(self) -> bool:
        """Tell whether every partition has been read to an end the brokers gave."""
        return self.value > -math.inf

    def asked(self, moment: float, ends: Mapping[Partition, int]) -> None:
        """Note the ends the brokers gave to a question asked at `moment` (epoch seconds)."""
        for partition, end in ends.items():
            if partition in self._ends:
                self._ends[partition].append((moment, end))
        self._settle(self._positions)

    def reached(self, positions: Mapping[Partition, int]) -> bool:
        """Note the reader's positions (next offsets to read); tell whether the value moved."""
        before = self.value
        self._positions.update(positions)
        self._settle(positions)
        return self.value != before

    def _settle(self, positions: Mapping[Partition, int]) -> None:
        for partition, position in positions.items():
            ends = self._ends.get(partition)
            while ends and ends[0][1] <= position:
                moment, _ = ends.popleft()
                self._read_up_to[partition] = max(self._read_up_to[partition], moment)
