"""Build an expensive fixture directory once per test run, shared by the pytest-xdist workers."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

DONE = ".built"


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """Return the directory `name`, filled by `build(directory)` once for the whole run.

    Without xdist this is one session's temporary directory. Under xdist every worker has its
    own base temporary directory inside one shared by the run: the first worker to get here
    builds under a file lock while the others wait, then all of them read the same files (a
    Keras bundle is trained once, not once per worker). A build that raised leaves no mark, so
    the next worker tries again and reports its own error.
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    directory = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (directory / DONE).exists():
            shutil.rmtree(directory, ignore_errors=True)  # what a failed build left
            directory.mkdir()
            build(directory)
            (directory / DONE).touch()
    return directory
