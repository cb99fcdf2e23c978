"""What the consumer imports from training needs only the base install (numpy, pandas)."""

import subprocess
import sys

CHECK = """
import importlib, sys
for name in ("consumer.__main__", "consumer.service", "consumer.loop", "consumer.records",
             "consumer.replay", "training.bundle", "training.scoring", "training.data",
             "training.stages", "training.stage_bundle"):
    importlib.import_module(name)
heavy = {"sklearn", "scipy", "tensorflow", "keras", "matplotlib", "lightgbm"}
print(sorted(heavy & {name.split(".")[0] for name in sys.modules}))
"""


def test_scoring_side_imports_no_training_only_library():
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"
