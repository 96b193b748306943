"""Shared fixtures: paths, and running the workflow on a config in a temporary work dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
TINY_CONFIG = REPO / "tests" / "data" / "tiny.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run_snakemake(workdir: Path, *args: str, configfile: Path = TINY_CONFIG, check: bool = True,
                  config: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run snakemake on this repo's Snakefile with `workdir` as working directory."""
    # --configfile/--config take several values, so they go last: targets in `args` stay targets.
    cmd = [*SNAKEMAKE, "-s", str(SNAKEFILE), "-d", str(workdir), *args]
    if config:
        cmd += ["--config", *(f"{key}={value}" for key, value in config.items())]
    cmd += ["--configfile", str(configfile)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n--- stdout\n{proc.stdout[-6000:]}"
            f"\n--- stderr\n{proc.stderr[-8000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny config run once through every stage that exists (`rule all`); shared by tests.

    Returns the work dir; its `results/` holds every stage's outputs.
    """
    workdir = tmp_path_factory.mktemp("tiny_run")
    run_snakemake(workdir, "--cores", "2")
    return workdir


@pytest.fixture
def copy_tree():
    def _copy(src: Path, dst: Path) -> Path:
        shutil.copytree(src, dst, symlinks=True)
        return dst

    return _copy
