"""fraudstream's models: fitted offline, scored by the streaming consumer.

- `training.scoring`: the runtime, all the consumer imports (numpy; LightGBM's C library for a
  bundle with the supervised stage): the score, the stages' decision, bundles, drift baseline.
- `training.fitting`: fit a bundle's models (Keras, scikit-learn, LightGBM).
- `training.evaluation`: detection metrics and plots.
- `training.comparison`: compare detectors over seeds and protocols.
- `training.datasets`: read and check CSVs, synthesise card transactions.
- The command line: `__main__`, `options`, `commands` (the edges), `timesplit`, `console`.

The import contracts in pyproject.toml ([tool.importlinter]) keep these layers apart.
"""
