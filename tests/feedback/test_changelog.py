"""The changelog: a ledger's changes as compacted records, read back as they were committed."""

from __future__ import annotations

from collections import Counter

import pytest

from consumer.feedback.changelog import (
    TOTALS_KEY,
    ChangelogError,
    changelog_records,
    restore,
)
from consumer.feedback.counts import (
    EVICTED,
    AlertCount,
    FraudCount,
    LateAlertCount,
    RepeatCount,
)
from consumer.feedback.ledger import Changes, Entry

ROLES = ("champion", "challenger")
TOTALS = {
    AlertCount("champion", "v1", "supervised+autoencoder", "fraud"): 3,
    FraudCount("challenger", "false"): 2,
    RepeatCount("legit", "fraud"): 1,
    LateAlertCount("champion", "legit"): 1,
    EVICTED: 4,
}


def test_the_last_record_of_each_key_is_the_state():
    first = Changes({"t1": Entry(True, 1.5, "ww"), "t2": Entry(False, 2, "mx")}, {})
    later = Changes({"t1": Entry(True, 1.5, "ml"), "t2": None}, TOTALS)
    records = changelog_records(first, ROLES) + changelog_records(later, ROLES)
    entries, totals = restore(records, ROLES)
    assert entries == {"t1": Entry(True, 1.5, "ml")}
    assert totals == Counter(TOTALS)


def test_no_totals_record_means_no_counts_yet():
    records = changelog_records(Changes({"t1": Entry(True, 1.0, "ww")}, None), ROLES)
    assert [key for key, _ in records] == [b"tx:t1"]
    assert restore(records, ROLES) == ({"t1": Entry(True, 1.0, "ww")}, Counter())


def test_a_role_that_no_longer_runs_is_dropped_and_one_that_did_not_is_absent():
    records = changelog_records(Changes({"t1": Entry(True, 1.0, "mx")}, None), ROLES)
    assert restore(records, ("champion",))[0] == {"t1": Entry(True, 1.0, "m")}
    assert restore(records, ("challenger", "third"))[0] == {"t1": Entry(True, 1.0, "x-")}


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        (b"other", b"{}", "neither totals nor tx:<id>"),
        (b"tx:\xff", b"{}", "not UTF-8"),
        (b"tx:t1", b"{", "is not JSON"),
        (b"tx:t1", b"[]", "not a JSON object"),
        (b"tx:t1", b'{"fraud": 1, "arrived_at": 1, "roles": {}}', "lacks fraud"),
        (b"tx:t1", b'{"fraud": true, "arrived_at": "1", "roles": {}}', "lacks fraud"),
        (b"tx:t1", b'{"fraud": true, "arrived_at": 1, "roles": {"champion": "?"}}', "unknown"),
        (TOTALS_KEY, None, "tombstone"),
        (TOTALS_KEY, b'{"counts": {}}', "no list of counts"),
        (TOTALS_KEY, b'{"counts": [["nope", [], 1]]}', "is not a count"),
        (TOTALS_KEY, b'{"counts": [["frauds", ["champion"], 1]]}', "is not a count"),
        (TOTALS_KEY, b'{"counts": [["frauds", ["champion", 1], 1]]}', "is not a count"),
        (TOTALS_KEY, b'{"counts": [["frauds", ["champion", "true"], -1]]}', "is not a count"),
        (TOTALS_KEY, b'{"counts": [["frauds", ["champion", "true"], 1.5]]}', "is not a count"),
    ],
)  # fmt: skip
def test_a_record_that_does_not_read_stops_the_restore(key, value, says):
    with pytest.raises(ChangelogError, match=says):
        restore([(key, value)], ROLES)
