"""The consumer's process imports no training-only library, even scoring a two-stage bundle.

The package boundary itself is import-linter's (pyproject.toml [tool.importlinter], run by
scripts/test); this checks what a real process ends up loading, the libraries' own imports
included (importing the `lightgbm` package, for one, would import pandas and scikit-learn).
"""

import subprocess
import sys

from test_stage_records import stage_bundle  # noqa: F401 (a fixture)

OFFLINE = ("keras", "tensorflow", "sklearn", "pandas", "matplotlib", "scipy", "lightgbm")
CHECK = """
import sys
from pathlib import Path

import numpy as np

import consumer.__main__, consumer.follow, consumer.ready, consumer.replay, consumer.service
from consumer.models import ModelDirectory

model = ModelDirectory(Path(sys.argv[1])).first()
scored = model.scorer.score(np.random.default_rng(0).normal(size=(64, 3)))
assert model.scorer.stage is not None and scored.probability is not None
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_scoring_a_two_stage_bundle_imports_no_offline_library(stage_bundle):  # noqa: F811
    model_dir, _, _ = stage_bundle
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(model_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = set(result.stdout.split())
    assert "numpy" in loaded and "confluent_kafka" in loaded
    assert not loaded & set(OFFLINE)
