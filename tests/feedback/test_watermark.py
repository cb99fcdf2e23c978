"""The alert watermark: the earliest moment every alert partition is known read to its end."""

from __future__ import annotations

import math

from consumer.feedback.watermark import MAX_PENDING, AlertWatermark

A0, A1 = ("alerts", 0), ("alerts", 1)


def test_nothing_is_known_until_every_partition_reached_an_end():
    mark = AlertWatermark([A0, A1])
    assert mark.value == -math.inf and not mark.caught_up
    mark.asked(10.0, {A0: 0, A1: 3})
    assert not mark.reached({A0: 0})  # an empty partition is at its end at once, but A1 is
    assert mark.value == -math.inf  # not read yet
    assert mark.reached({A1: 3})
    assert mark.value == 10.0 and mark.caught_up


def test_a_reader_behind_keeps_the_watermark_until_it_gets_there():
    mark = AlertWatermark([A0])
    mark.asked(10.0, {A0: 5})
    mark.asked(11.0, {A0: 9})
    mark.reached({A0: 6})
    assert mark.value == 10.0  # the end of 10.0 is read, not yet that of 11.0
    mark.reached({A0: 9})
    assert mark.value == 11.0


def test_an_answer_that_comes_after_the_reader_got_there_counts_at_once():
    mark = AlertWatermark([A0])
    mark.reached({A0: 4})
    mark.asked(20.0, {A0: 4})
    assert mark.value == 20.0


def test_an_idle_partition_moves_with_each_question():
    mark = AlertWatermark([A0])
    for moment in (1.0, 2.0, 3.0):
        mark.asked(moment, {A0: 7})
        mark.reached({A0: 7})
    assert mark.value == 3.0


def test_without_answers_it_stops():
    mark = AlertWatermark([A0])
    mark.asked(1.0, {A0: 0})
    mark.reached({A0: 0})
    for _ in range(5):
        assert not mark.reached({A0: 0})
    assert mark.value == 1.0


def test_the_ends_remembered_are_bounded_and_the_oldest_go_first():
    mark = AlertWatermark([A0])
    for k in range(MAX_PENDING + 10):
        mark.asked(float(k), {A0: 100 + k})
    mark.reached({A0: 100 + MAX_PENDING + 9})
    assert mark.value == float(MAX_PENDING + 9)


def test_partitions_it_does_not_track_are_ignored():
    mark = AlertWatermark([A0])
    mark.asked(5.0, {A0: 1, ("other", 0): 9})
    mark.reached({A0: 1, ("other", 0): 0})
    assert mark.value == 5.0
