"""The join against an independent batch join, for random interleavings, repeats and crashes."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from simulation import ROLES, Member, Topics, batch_join, reconciled

from consumer.feedback.alert_records import Alert
from consumer.feedback.counts import FraudCount, RepeatCount
from consumer.feedback.ledger import Limits
from consumer.feedback.verdicts import Verdict

IDS = [f"tx-{i}" for i in range(4)]  # few ids: repeats, conflicts and matches are common
FAR = 1e9  # a horizon no test reaches: nothing is forgotten
alerts = st.lists(
    st.tuples(st.sampled_from(IDS), st.sampled_from(["v1", "v2"]), st.sampled_from(["ae", "sv"])),
    max_size=12,
)
verdicts = st.lists(st.tuples(st.sampled_from(IDS), st.booleans()), max_size=25)
# Steps, repeated to weigh them: publish (and read) verdicts and alerts in any order, read a
# partition late, commit, crash (reading the alerts again before or after the ledgers come
# back), move the clock.
STEPS = [
    *(("alert", role) for role in range(len(ROLES)) for _ in range(3)),
    *[("verdict", 0)] * 4,
    ("publish", 0),
    *(("read", p) for p in range(3)),
    *[("commit", 0)] * 3,
    *[("crash", True)] * 2,
    *[("crash", False)] * 2,
    *[("advance", 0)] * 3,
]
steps = st.lists(st.sampled_from(STEPS), min_size=10, max_size=80)
VERDICT = [("verdict", 0)]
ALERT, COMMIT, ADVANCE = ("alert", 0), ("commit", 0), ("advance", 0)
CRASH, CRASH_LEDGER_FIRST = ("crash", True), ("crash", False)


class Run:
    """Plays steps against simulated topics: publish, read, commit, crash, advance the clock."""

    def __init__(self, partitions, role_alerts, verdict_list, limits):
        self.topics = Topics(partitions)
        self.limits = limits
        self.member = Member(self.topics, limits)
        self.clock = 0.0
        self.alerts = {
            role: [Alert(tx, role, version, stage, 0.0) for tx, version, stage in items]
            for role, items in zip(ROLES, role_alerts, strict=True)
        }
        self.verdicts = [Verdict(tx, fraud, "analyst", 0.0) for tx, fraud in verdict_list]

    def play(self, step, advance):
        kind, arg = step
        if kind == "alert" and self.alerts[ROLES[arg]]:
            self.topics.publish_alert(self.alerts[ROLES[arg]].pop(0))
            self.member.catch_up_alerts()
        elif kind == "publish" and self.verdicts:
            self.clock += 1.0
            self.topics.publish_verdict(self.verdicts.pop(0), self.clock)
        elif kind == "verdict" and self.verdicts:
            self.clock += 1.0
            verdict = self.verdicts.pop(0)
            self.topics.publish_verdict(verdict, self.clock)
            self.member.read_partition(self.member.join.home(verdict.transaction_id))
        elif kind == "read":
            self.member.read_verdict(arg % self.topics.partitions)
        elif kind == "commit":
            self.member.commit()
        elif kind == "crash":  # arg: whether the alerts are read again before the ledgers
            self.member = Member(self.topics, self.limits, alerts_first=arg)
        elif kind == "advance" and advance:
            self.member.join.advance(self.clock)

    def finish(self):
        """Publish and read what is left, settle every verdict, commit; then restart once more."""
        for role in ROLES:
            for alert in self.alerts[role]:
                self.topics.publish_alert(alert)
        for verdict in self.verdicts:
            self.clock += 1.0
            self.topics.publish_verdict(verdict, self.clock)
        self.member.read_all()
        self.member.join.advance(self.clock + self.limits.grace)
        self.member.commit()
        Member(self.topics, self.limits)  # a restart after the end changes nothing committed


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3), st.tuples(alerts, alerts), verdicts, steps)
# The verdict waits, is committed; its alert matches it, uncommitted; a crash: the rebuilt
# alert index holds the alert before the ledger comes back from its changelog.
@example(1, ([("tx-0", "v1", "ae")], []), [("tx-0", True)], [*VERDICT, COMMIT, ALERT, CRASH])
# The same, the ledger back first: the alert, read again, finds the entry matched already.
@example(
    1, ([("tx-0", "v1", "ae")], []), [("tx-0", True)], [*VERDICT, ALERT, COMMIT, CRASH_LEDGER_FIRST]
)
def test_counts_equal_the_batch_join_when_alerts_come_within_the_grace_period(
    partitions, role_alerts, verdict_list, step_list
):
    run = Run(partitions, role_alerts, verdict_list, Limits(10 * FAR, 100 * FAR, 10**6, 10**6))
    for step in step_list:
        run.play(step, advance=False)
    run.finish()
    assert run.topics.committed_totals() == batch_join(run.topics)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3), st.tuples(alerts, alerts), verdicts, steps, st.sampled_from([0.0, 2.0]))
# Settled as missed and committed; its alert comes late, uncommitted; a crash: the rebuilt
# alert index holds the late alert before the ledger comes back.
@example(
    1,
    ([("tx-0", "v1", "ae")], []),
    [("tx-0", False)],
    [*VERDICT, ADVANCE, COMMIT, ALERT, CRASH],
    0.0,
)
def test_a_late_alert_is_counted_once_as_late_and_nothing_else_moves(
    partitions, role_alerts, verdict_list, step_list, grace
):
    """With the clock moving, an alert read after its verdict's grace period is late: it
    counts in late alerts instead of alerts, and the fraud as missed; nothing else differs."""
    run = Run(partitions, role_alerts, verdict_list, Limits(grace, FAR, 10**6, 10**6))
    for step in step_list:
        run.play(step, advance=True)
    run.finish()
    assert reconciled(run.topics.committed_totals()) == reconciled(batch_join(run.topics))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 3),
    st.tuples(alerts, alerts),
    verdicts,
    steps,
    st.integers(1, 4),
    st.integers(1, 4),
)
def test_within_small_bounds_every_fraud_verdict_is_counted_once_per_role(
    partitions, role_alerts, verdict_list, step_list, max_alerts, max_verdicts
):
    """With entries and alerts evicted early, counts differ from the batch join, but every
    fraud verdict is either a repeat or counted once per role as caught or missed."""
    limits = Limits(2.0, 5.0, max_alerts, max_verdicts)
    run = Run(partitions, role_alerts, verdict_list, limits)
    for step in step_list:
        run.play(step, advance=True)
        join = run.member.join
        assert len(join.alerts) <= max_alerts
        for ledger in join.ledgers.values():
            assert len(ledger.entries) <= max_verdicts
            assert ledger.waiting == sum(entry.waiting for entry in ledger.entries.values())
    run.finish()
    totals = run.topics.committed_totals()
    frauds = sum(1 for _, fraud in verdict_list if fraud)
    repeated = sum(
        n for c, n in totals.items() if isinstance(c, RepeatCount) and c.later == "fraud"
    )
    for role in ROLES:
        counted = totals[FraudCount(role, "true")] + totals[FraudCount(role, "false")]
        assert counted + repeated == frauds
