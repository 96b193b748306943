"""A second `snakemake` in a work directory where one is running is refused by Snakemake's lock.

Two runs writing the same run folders would corrupt each other's checkpoints and outputs; the
lock (``.snakemake/locks``) makes the second one stop with a message before any job starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from conftest import SNAKEFILE, SNAKEMAKE, TINY_CONFIG


@pytest.mark.slow
def test_second_snakemake_in_the_same_directory_is_refused(tmp_path):
    command = [*SNAKEMAKE, "-s", str(SNAKEFILE), "-d", str(tmp_path), "--cores", "1",
               "--configfile", str(TINY_CONFIG)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        locks = tmp_path / ".snakemake" / "locks"
        deadline = time.monotonic() + 120
        while not (locks.exists() and any(locks.iterdir())):
            assert first.poll() is None, f"the first run ended before locking:\n{first.stderr.read()[-4000:]}"
            assert time.monotonic() < deadline, "the first run took no lock within 120 s"
            time.sleep(0.1)
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert first.poll() is None, "the first run must still hold its lock"
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGINT)  # its own process group: snakemake and its jobs
            first.communicate(timeout=120)
    assert second.returncode != 0
    assert "Directory cannot be locked" in second.stderr + second.stdout
    assert "--unlock" in second.stderr + second.stdout  # Snakemake names the way out after a crash
