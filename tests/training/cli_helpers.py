"""Run the training command line in this process, for tests of its messages and exit codes."""

from __future__ import annotations

import subprocess

import pytest

from training.__main__ import main


def run_in_process(
    capsys: pytest.CaptureFixture[str], *args: object
) -> subprocess.CompletedProcess[str]:
    """Call `python -m training ARGS` as a function; return what `subprocess.run` would.

    No interpreter starts and nothing heavy is imported before the command needs it, so a
    refusal is checked in milliseconds. The end-to-end tests keep real subprocesses.
    """
    argv = [str(arg) for arg in args]
    capsys.readouterr()  # only this call's output
    try:
        code = main(argv)
    except SystemExit as stopped:  # argparse: --help, or a flag it cannot parse
        code = int(stopped.code or 0)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["python", "-m", "training", *argv], code, out, err)
