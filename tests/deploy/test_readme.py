"""The README's shell examples: every command parses as written, the cheap ones run."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from stack import REPO, compose_binary

from consumer.__main__ import build_parser as consumer_parser
from training import timesplit
from training.__main__ import build_parser as training_parser

README = REPO / "README.md"
TESTED_MARK = "<!-- tested: tests/deploy/test_readme.py -->"
VENV_BIN = Path(sys.executable).parent
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def shell_blocks(text: str) -> list[tuple[bool, str]]:
    """Return (marked as tested, body) of each ```bash block."""
    pattern = re.compile(r"(<!-- tested: [^>]*-->\n)?```bash\n(.*?)```", re.S)
    return [(bool(m.group(1)), m.group(2)) for m in pattern.finditer(text)]


def commands(block: str) -> list[list[str]]:
    """Return each command of a block as words, continuations joined, comments and VAR= dropped.

    >>> commands("A=1 scripts/demo   # note\\nfoo --x \\\\\\n  y\\n")
    [['scripts/demo'], ['foo', '--x', 'y']]
    """
    found = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words and ASSIGNMENT.match(words[0]):
            words = words[1:]
        if words:
            found.append(words)
    return found


def parse_as_the_program_would(words: list[str]) -> str:
    """Parse a README command with the program's own parser; return the program it names."""
    program, args = words[0], words[1:]
    if program == "python" and args[:2] == ["-m", "training.timesplit"]:
        timesplit.build_parser().parse_args(args[2:])
    elif program == "fraudstream-train" or args[:2] == ["-m", "training"]:
        training_parser().parse_args(args if program != "python" else args[2:])
    elif program == "fraudstream-consumer" or args[:2] == ["-m", "consumer"]:
        consumer_parser().parse_args(args if program != "python" else args[2:])
    elif program == "docker":
        assert args[0] == "compose", words
        result = subprocess.run(
            [str(compose_binary()), *args[1:], "--help"], capture_output=True, text=True
        )
        assert result.returncode == 0, f"{' '.join(words)}: {result.stdout}{result.stderr}"
    elif program.startswith(("scripts/", ".venv/bin/")):
        assert os.access(REPO / program, os.X_OK), f"{program} is not an executable file"
        for arg in args:
            if arg.startswith(("bench/", "scripts/")):
                assert (REPO / arg).is_file(), arg
    elif program == "kcat":  # Debian's Kafka client, shown for reading alerts; not installed here
        assert "isolation.level=read_committed" in args, words
    elif program not in ("source",):
        raise AssertionError(f"the README runs {program!r}, which this test does not know")
    return program


ALL_COMMANDS = [words for _, block in shell_blocks(README.read_text()) for words in commands(block)]


def test_the_readme_has_the_two_setup_commands_first():
    first = commands(shell_blocks(README.read_text())[0][1])
    assert first == [["scripts/demo"], ["scripts/test"]]


@pytest.mark.parametrize("words", ALL_COMMANDS, ids=lambda words: " ".join(words)[:60])
def test_every_readme_command_is_accepted_as_written(words):
    parse_as_the_program_would(words)


def test_a_misspelt_readme_command_is_caught():
    with pytest.raises(SystemExit):
        parse_as_the_program_would(["fraudstream-train", "fit", "--dataa", "x.csv"])
    with pytest.raises(AssertionError):
        parse_as_the_program_would(["scripts/deploy"])


def test_the_help_of_every_readme_command_works(capsys):
    scripts = {e.name: e for e in entry_points(group="console_scripts")}
    seen = sorted({(w[0], w[1]) for w in ALL_COMMANDS if w[0].startswith("fraudstream-")})
    assert ("fraudstream-train", "fit") in seen and ("fraudstream-consumer", "run") in seen
    for program, command in seen:
        assert (VENV_BIN / program).is_file(), f"{program} is not installed in the venv"
        with pytest.raises(SystemExit) as stopped:
            scripts[program].load()([command, "--help"])
        assert stopped.value.code == 0
        assert capsys.readouterr().out.startswith("usage:")


@pytest.mark.keras
def test_the_tested_block_runs_as_written(tmp_path):
    (block,) = [body for tested, body in shell_blocks(README.read_text()) if tested]
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    for words in commands(block):
        result = subprocess.run(
            words, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"{' '.join(words)}:\n{result.stderr[-2000:]}"
    scores = (tmp_path / "runs" / "try" / "scores.csv").read_text().splitlines()
    stream = (tmp_path / "runs" / "try" / "stream.csv").read_text().splitlines()
    assert scores[0] == "score,alert,reasons,out_of_range" and len(scores) == len(stream)
    assert (tmp_path / "runs" / "try" / "report" / "metrics.json").is_file()


def test_the_layout_names_every_package_folder_and_script():
    text = README.read_text()
    layout = text[text.index("## Layout") : text.index("## Links")]
    named = set(re.findall(r"[\w./-]+", layout))
    packages = {
        f"{p.parent.relative_to(REPO)}/"
        for d in ("training", "consumer")
        for p in (REPO / d).rglob("__init__.py")
    }
    folders = {
        f"{p.name}/" for d in ("tests", "deploy") for p in (REPO / d).iterdir() if p.is_dir()
    }
    scripts = {p.name for p in (REPO / "scripts").iterdir()}
    missing = packages | folders | scripts
    assert sorted(missing - named - {"__pycache__/"}) == []


def test_docs_layout_names_every_module():
    named = set(re.findall(r"`([\w.]+)`", (REPO / "docs" / "layout.md").read_text()))
    modules = {p.stem for d in ("training", "consumer") for p in (REPO / d).rglob("*.py")}
    assert sorted(modules - named - {"__init__"}) == []
