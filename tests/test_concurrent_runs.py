"""A second `snakemake` in a work directory where one is running is refused before any job starts.

Two runs writing the same run folders would corrupt each other's checkpoints and outputs. Snakemake
9 builds its DAG before it takes the lock (``.snakemake/locks``), so which check refuses the second
run depends on timing: once the first run has started a job, its outputs are marked incomplete and
the second run stops on them, advising ``--rerun-incomplete``; before that, the lock stops it. The
advised ``--rerun-incomplete`` skips the incomplete check, so the lock must refuse that run too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from conftest import SNAKEFILE, SNAKEMAKE, TINY_CONFIG

LOCK_REFUSAL = "Directory cannot be locked"
INCOMPLETE_REFUSAL = "Incomplete files"


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
        plain = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        forced = subprocess.run([*command, "--rerun-incomplete"], env=env, capture_output=True, text=True,
                                timeout=300)
        assert first.poll() is None, "the first run must still hold its lock"
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGINT)  # its own process group: snakemake and its jobs
            first.communicate(timeout=120)

    plain_output = plain.stderr + plain.stdout
    assert plain.returncode != 0
    assert LOCK_REFUSAL in plain_output or INCOMPLETE_REFUSAL in plain_output, plain_output[-4000:]

    forced_output = forced.stderr + forced.stdout
    assert forced.returncode != 0
    assert LOCK_REFUSAL in forced_output, forced_output[-4000:]
    assert "--unlock" in forced_output  # Snakemake names the way out after a crash
