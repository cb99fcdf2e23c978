"""Streaming scoring for fraudstream: consume transactions from Kafka, publish alerts."""
