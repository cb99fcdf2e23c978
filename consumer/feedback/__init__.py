"""The feedback loop: join analysts' and chargebacks' verdicts with the alerts that were published.

Pure core so far (docs/feedback.md): `verdicts` decodes the labels topic, `alert_records` the
alert topics, `partitioning` finds a transaction's home partition, `join` keeps the state and
the counts, `changelog` encodes that state for its compacted topic, `metrics` exports the counts.
"""
