"""The benchmark harness: `python -m bench` measures the consumer against a local Kafka broker.

Benchmarks are not tests: they measure, the tests check. See BENCHMARKS.md.
"""
