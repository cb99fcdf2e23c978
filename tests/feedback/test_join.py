"""The feedback join, one behaviour at a time: matching, grace, repeats, late alerts, limits."""

from __future__ import annotations

import math

import pytest

from consumer.feedback.alert_records import Alert
from consumer.feedback.changelog import changelog_records, restore
from consumer.feedback.counts import (
    EVICTED,
    AlertCount,
    FraudCount,
    LateAlertCount,
    RepeatCount,
)
from consumer.feedback.join import FeedbackJoin
from consumer.feedback.ledger import Changes, Entry, Limits
from consumer.feedback.verdicts import Verdict

ROLES = ("champion", "challenger")
GRACE, HORIZON = 60.0, 3600.0


def a_join(partitions=1, max_alerts=1000, max_verdicts=1000, roles=ROLES):
    join = FeedbackJoin(roles, partitions, Limits(GRACE, HORIZON, max_alerts, max_verdicts))
    for p in range(partitions):
        join.assign(p)
    return join


def alert(tx, role="champion", version="v1", stage="autoencoder", at=0.0):
    return Alert(tx, role, version, stage, at)


def verdict(join, tx, fraud=True, at=100.0):
    return join.add_verdict(join.home(tx), Verdict(tx, fraud, "analyst", 0.0), at)


def totals(join):
    return {c: n for ledger in join.ledgers.values() for c, n in ledger.totals.items()}


def test_a_verdict_on_an_alert_counts_at_once_for_the_role_that_alerted():
    join = a_join()
    join.add_alert(alert("t1", version="v7", stage="supervised"))
    assert verdict(join, "t1", fraud=True) == [
        AlertCount("champion", "v7", "supervised", "fraud"),
        FraudCount("champion", "true"),
    ]
    join.add_alert(alert("t2"))
    assert verdict(join, "t2", fraud=False) == [
        AlertCount("champion", "v1", "autoencoder", "legit")
    ]


def test_a_verdict_before_its_alert_waits_for_it():
    join = a_join()
    assert verdict(join, "t1", fraud=True, at=100.0) == []
    assert join.advance(100.0 + GRACE - 1) == []
    assert join.add_alert(alert("t1", role="challenger", version="c1")) == [
        AlertCount("challenger", "c1", "autoencoder", "fraud"),
        FraudCount("challenger", "true"),
    ]


def test_a_role_with_no_alert_when_the_grace_period_ends_missed_the_fraud():
    join = a_join()
    join.add_alert(alert("t1"))
    verdict(join, "t1", fraud=True, at=100.0)
    verdict(join, "t2", fraud=False, at=100.0)
    assert join.advance(100.0 + GRACE - 0.001) == []
    assert join.advance(100.0 + GRACE) == [FraudCount("challenger", "false")]  # t2: legit
    assert totals(join) == {
        AlertCount("champion", "v1", "autoencoder", "fraud"): 1,
        FraudCount("champion", "true"): 1,
        FraudCount("challenger", "false"): 1,
    }


def test_an_alert_after_the_grace_period_is_late_and_counted_once():
    join = a_join()
    verdict(join, "t1", fraud=True, at=100.0)
    assert join.advance(200.0) == [
        FraudCount("champion", "false"),
        FraudCount("challenger", "false"),
    ]
    assert join.add_alert(alert("t1")) == [LateAlertCount("champion", "fraud")]
    assert join.add_alert(alert("t1")) == []  # read again: already indexed


def test_the_first_verdict_wins_and_later_ones_are_repeats():
    join = a_join()
    join.add_alert(alert("t1"))
    verdict(join, "t1", fraud=False)
    assert verdict(join, "t1", fraud=False) == [RepeatCount("legit", "legit")]
    assert verdict(join, "t1", fraud=True) == [RepeatCount("legit", "fraud")]
    assert totals(join)[AlertCount("champion", "v1", "autoencoder", "legit")] == 1
    assert FraudCount("champion", "true") not in totals(join)


def test_the_first_alert_of_a_role_wins():
    join = a_join()
    join.add_alert(alert("t1", version="v1"))
    assert join.add_alert(alert("t1", version="v2")) == []
    assert verdict(join, "t1")[0] == AlertCount("champion", "v1", "autoencoder", "fraud")


def test_verdicts_and_alerts_are_forgotten_a_horizon_after_they_came():
    join = a_join()
    join.add_alert(alert("t1", at=0.0))
    verdict(join, "t1", at=100.0)
    join.advance(HORIZON)  # the alert goes; the verdict stays, and still sees repeats
    assert join.alerts.get("champion", "t1") is None
    assert verdict(join, "t1", fraud=False) == [RepeatCount("fraud", "legit")]
    join.advance(100.0 + HORIZON)
    assert join.ledgers[0].entries == {}
    assert verdict(join, "t1", at=HORIZON + 200) == []  # a first verdict again: nothing to match
    assert join.add_alert(alert("t2", at=100.0)) == []  # older than the horizon: not kept
    assert len(join.alerts) == 0


def test_a_full_ledger_settles_and_forgets_its_oldest_verdict():
    join = a_join(max_verdicts=2)
    verdict(join, "t1", at=1.0)
    verdict(join, "t2", at=2.0)
    assert verdict(join, "t3", at=3.0) == [
        FraudCount("champion", "false"),
        FraudCount("challenger", "false"),
        EVICTED,
    ]
    assert sorted(join.ledgers[0].entries) == ["t2", "t3"]


def test_a_verdict_after_its_transaction_was_evicted_waits_its_own_grace_period():
    join = a_join(max_verdicts=1)
    verdict(join, "t1", at=1.0)
    verdict(join, "t2", at=2.0)  # evicts t1, settled at once
    assert verdict(join, "t1", at=50.0) == [
        FraudCount("champion", "false"),
        FraudCount("challenger", "false"),
        EVICTED,
    ]  # t1 is a first verdict again, and evicts t2
    assert join.advance(1.0 + GRACE) == []  # t1's first arrival's deadline: not this one's
    assert join.ledgers[0].entries["t1"].outcomes == "ww"
    assert join.add_alert(alert("t1")) == [
        AlertCount("champion", "v1", "autoencoder", "fraud"),
        FraudCount("champion", "true"),
    ]
    assert join.advance(50.0 + GRACE) == [FraudCount("challenger", "false")]


def test_a_full_alert_index_forgets_its_oldest_alert():
    join = a_join(max_alerts=2)
    for i, role in enumerate(["champion", "challenger", "champion"]):
        join.add_alert(alert(f"t{i}", role=role, at=float(i)))
    assert len(join.alerts) == 2 and join.alerts.evicted == 1
    assert join.alerts.get("champion", "t0") is None
    assert (join.alerts.count("champion"), join.alerts.count("challenger")) == (1, 1)


def test_a_verdict_is_taken_only_on_its_home_partition():
    join = a_join(partitions=4)
    home = join.home("t1")
    with pytest.raises(ValueError, match=f"belongs on partition {home}, not"):
        join.add_verdict((home + 1) % 4, Verdict("t1", True, "analyst", 0.0), 1.0)
    join.revoke(home)
    with pytest.raises(ValueError, match="not held"):
        join.add_verdict(home, Verdict("t1", True, "analyst", 0.0), 1.0)


def test_bad_calls_say_what_is_wrong():
    join = a_join()
    with pytest.raises(ValueError, match="role 'shadow'"):
        join.add_alert(alert("t1", role="shadow"))
    with pytest.raises(ValueError, match="finite time"):
        verdict(join, "t1", at=math.nan)
    with pytest.raises(ValueError, match="finite time"):
        join.add_alert(alert("t1", at=math.inf))
    with pytest.raises(ValueError, match="grace period must be under the horizon"):
        Limits(10.0, 10.0, 1, 1)
    with pytest.raises(ValueError, match="at least one"):
        Limits(1.0, 10.0, 0, 1)
    with pytest.raises(ValueError, match="distinct roles"):
        FeedbackJoin(("champion", "champion"), 1, Limits(1.0, 10.0, 1, 1))


def test_changes_hold_what_moved_since_the_last_take():
    join = a_join()
    ledger = join.ledgers[0]
    verdict(join, "t1", fraud=False, at=1.0)
    first = ledger.take_changes()
    assert first.entries == {"t1": Entry(False, 1.0, "ww")}
    assert first.totals is None  # a legit verdict waiting counts nothing yet
    join.add_alert(alert("t1"))
    second = ledger.take_changes()
    assert second.entries == {"t1": Entry(False, 1.0, "mw")}
    assert second.totals == {AlertCount("champion", "v1", "autoencoder", "legit"): 1}
    join.advance(1.0 + HORIZON)
    assert ledger.take_changes() == Changes({"t1": None}, None)  # forgotten: a tombstone
    assert ledger.take_changes() == Changes({}, None)


def test_a_restored_ledger_goes_on_where_it_stopped_even_with_a_new_role():
    before = a_join(roles=("champion",))
    before.add_alert(alert("t1"))
    verdict(before, "t1", fraud=True, at=1.0)
    verdict(before, "t2", fraud=True, at=2.0)
    records = changelog_records(before.ledgers[0].take_changes(), ("champion",))
    after = a_join()  # a challenger runs now
    entries, restored = restore(records, ROLES)
    assert entries == {"t1": Entry(True, 1.0, "m-"), "t2": Entry(True, 2.0, "w-")}
    assert after.assign(0, entries, restored) == []
    assert after.add_alert(alert("t2", role="challenger")) == []  # it did not run then
    assert after.add_alert(alert("t2")) == [
        AlertCount("champion", "v1", "autoencoder", "fraud"),
        FraudCount("champion", "true"),
    ]
    assert totals(after)[FraudCount("champion", "true")] == 2
