"""benchmarks/gpu_check.py --dry: the GPU check script runs end to end on the CPU (tiny sizes).

Its numbers are only meaningful on a GPU; here it must run, find the dtypes as designed (LSTMs in
float32 inside bf16 autocast) and the one-batch loss and gradients within its tolerance.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run_passes_every_check():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    header, *cases = [[cell.strip() for cell in row] for row in rows]
    assert [case[0] for case in cases] == ["blstmatt", "csa"]
    for case in cases:
        values = dict(zip(header, case))
        assert values["dtypes"] == "ok" and values["precision"] == "ok", values
        assert float(values["epoch (s)"]) > 0 and float(values["peak memory (MiB)"]) > 0
    assert "all checks passed" in proc.stdout
