"""The feedback loop: join analysts' and chargebacks' verdicts with the alerts that were published.

The pure core (docs/feedback.md): `verdicts` decodes the labels topic, `alert_records` the
alert topics, `partitioning` finds a transaction's home partition, `join` (with `alert_index`,
`ledger` and `counts`) keeps the state and the counts, `changelog` encodes that state for its
compacted topic, `watermark` tells how far the alert topics are read, `labelled` joins
transactions with their latest verdict. The edge: `service` and `loop` run
`fraudstream-consumer feedback` (`alert_reader`, `ends`, `reading`, `restore`, `group`,
`writer`, `transaction`, `metrics`); `export` runs `fraudstream-consumer labelled`.
"""
