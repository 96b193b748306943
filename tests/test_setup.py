"""envs/setup.sh on an HPC login node: missing system packages are listed, not installed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import REPO


def fake_command(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def test_setup_as_non_root_lists_missing_system_packages(tmp_path):
    # dpkg-query reports nothing installed and `id -u` a normal user: the script must stop before
    # touching apt or the venv, printing the exact install line for an administrator.
    fake_command(tmp_path, "dpkg-query", "exit 1")
    fake_command(tmp_path, "id", "echo 1000")
    fake_command(tmp_path, "apt-get", "echo apt-get must not run >&2; exit 99")
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", str(REPO / "envs" / "setup.sh"), "--test"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "apt-get must not run" not in proc.stderr
    assert ("ask your administrator to run: apt-get install -y "
            "chromium munge slurmctld slurmd slurm-client") in proc.stdout
