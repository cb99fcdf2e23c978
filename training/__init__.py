"""Offline training for fraudstream: fit, evaluate and bundle a reconstruction-error detector."""
