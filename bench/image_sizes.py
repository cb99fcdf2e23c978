"""Estimate what each Docker image adds to its Python base: install as the Dockerfile does, measure.

For each role (consumer: the `stage` extra; trainer: the `train` extra) this makes a fresh
virtual environment in a temporary directory, installs the project into it with the same pip
options as the Dockerfile's build stages (binary wheels only, no bytecode, no cache) and prints
its size on disk and its largest packages. No Docker engine is needed; the base image
(python:3.11-slim-bookworm) comes on top and is not measured here.

    .venv/bin/python bench/image_sizes.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROLES = {"consumer": ".[stage]", "trainer": ".[train]"}
PIP = ["--no-cache-dir", "--only-binary=:all:", "--no-compile", "--quiet"]


def size_mb(path: Path) -> float:
    """Return the bytes under `path` (files only, links not followed) in MB."""
    total = sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    return total / 1e6


def measure(role: str, target: str, root: Path) -> None:
    """Install `target` into a fresh venv under `root`; print its size and largest packages."""
    venv = root / role
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", *PIP, target], cwd=REPO, check=True)
    site = next(venv.glob("lib/python3*/site-packages"))
    packages = sorted(
        ((size_mb(p), p.name) for p in site.iterdir() if p.is_dir() and "dist-info" not in p.name),
        reverse=True,
    )
    top = ", ".join(f"{name} {mb:.0f}" for mb, name in packages[:6])
    print(f"{role}: virtual environment {size_mb(venv):.0f} MB; largest (MB): {top}")


def main() -> int:
    """Measure both roles."""
    with tempfile.TemporaryDirectory(prefix="fraudstream-image-sizes-") as tmp:
        for role, target in ROLES.items():
            measure(role, target, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
