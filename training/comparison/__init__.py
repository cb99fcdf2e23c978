"""Compare detectors over seeds and protocols: baselines, the stages, the new-fraud protocol."""
