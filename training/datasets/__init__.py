"""Data sets: read and check a transactions CSV, and synthesise card transactions."""
