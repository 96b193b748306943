"""The report as a workflow target, on the tiny end-to-end run (`tiny_run`, shared session fixture).

Runtime: the shared tiny run (built once per session) plus ~30 s here (dry runs, one report
rebuild, `snakemake --report`).
"""

from __future__ import annotations

import json
import re
import zipfile

import pytest
from conftest import REPO, run_snakemake

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_rule_all_ends_in_the_report(tiny_run):
    html = (tiny_run / "results" / "report.html").read_text()
    for section_id in ("summary", "data", "models", "sweep", "fusion", "attention", "provenance"):
        assert f'<section id="{section_id}">' in html
    missing = re.findall(r'<div class="unavailable"[^>]*>(.*?)</div>', html, flags=re.S)
    assert missing == [], f"every stage ran, so every report section must be filled: {missing}"
    sidecar = json.loads((tiny_run / "results" / "report.inputs.json").read_text())
    assert any(name.endswith("metrics.json") for name in sidecar["inputs"])


def test_report_target_rebuilds_only_the_report(tiny_run):
    finished = run_snakemake(tiny_run, "-n", "report")
    assert "Nothing to be done" in finished.stdout + finished.stderr
    forced = run_snakemake(tiny_run, "-n", "--forcerun", "build_report", "report")
    jobs = re.findall(r"^\s*rule (\w+):", forced.stdout, flags=re.M)
    assert set(jobs) <= {"build_report", "report", "all"} and "build_report" in jobs, (
        jobs
    )  # targets only
    # the template and the library are inputs, so editing them reruns (only) the report
    assert str(REPO / "workflow" / "templates" / "report.html.j2") in forced.stdout
    assert str(REPO / "workflow" / "emocue" / "report" / "sections" / "models.py") in forced.stdout


def test_snakemake_report_zip(tiny_run, tmp_path):
    archive = tmp_path / "report.zip"
    run_snakemake(tiny_run, "--report", str(archive))
    with zipfile.ZipFile(archive) as packed:
        names = packed.namelist()
    # Snakemake's own page, plus our report (and the other flagged outputs) under data/raw/
    assert any("/data/raw/" in name and name.endswith("/report.html") for name in names), names


def test_report_inputs_follow_the_config(tmp_path):
    """align.backend: none runs no align/attention job, and the report declares none of their files
    (issue 11.15); a leftover attention folder of another seed is never an input (issue 12.2)."""
    import yaml

    tiny = yaml.safe_load((REPO / "tests" / "data" / "tiny.yaml").read_text())
    no_alignment = tmp_path / "no_alignment.yaml"
    no_alignment.write_text(yaml.safe_dump({**tiny, "align": {"backend": "none"}}))
    (tmp_path / "results" / "attention" / "seed99").mkdir(parents=True)
    (tmp_path / "results" / "attention" / "seed99" / "tests.parquet").write_bytes(b"stale")
    planned = run_snakemake(tmp_path, "-n", "results/report.html", configfile=no_alignment)
    job = re.search(r"rule build_report:\n\s+input: ([^\n]+)", planned.stdout)
    assert job, planned.stdout[-3000:]
    inputs = job[1].split(", ")
    assert "results/table1/table1.parquet" in inputs and "results/corpus/Session5.parquet" in inputs
    assert not [path for path in inputs if path.startswith(("results/align/", "results/attention/"))]
    assert not re.search(r"rule (align_session|attention_stats|attention_plots):", planned.stdout)
