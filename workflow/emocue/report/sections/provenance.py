"""Report section "Provenance": commit, software, machine and the configuration the page was built from.

Deliberately without run times: Snakemake's benchmark files are not inputs of the report rule
(a job's benchmark file is rewritten whenever the job reruns and a folder keeps those of jobs the
current configuration no longer has), so they cannot be declared without rebuilding the report for
timing noise or showing stale jobs. `snakemake --report` shows each job's run time; the raw files
are under results/benchmarks/.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import polars as pl
import yaml

from emocue.report.blocks import Code, Facts, Paragraph, Section, table_from_frame

PACKAGES = (
    "numpy",
    "scipy",
    "polars",
    "pyarrow",
    "torch",
    "torchaudio",
    "altair",
    "vl-convert-python",
    "jinja2",
    "praatio",
    "soundfile",
    "espeakng-loader",
    "pyyaml",
    "snakemake",
)
RUN_TIMES_NOTE = (
    "Run times are not part of this page: benchmark files are not inputs of the report (they are "
    "rewritten whenever a job reruns, and results/benchmarks/ keeps those of jobs the current "
    "configuration no longer has). `snakemake --report report.zip` shows each job's run time; "
    "the raw files are under results/benchmarks/."
)


def provenance_section(config: dict, workflow_dir: Path, inputs_digest: str) -> Section:
    section = Section("provenance", "Provenance")
    section.blocks.append(Facts(tuple(provenance_facts(workflow_dir, inputs_digest))))
    section.blocks.append(table_from_frame(package_versions(), "Package versions"))
    section.blocks.append(Paragraph(RUN_TIMES_NOTE))
    section.blocks.append(Code(config_yaml(config), "Configuration (after validation and defaults)"))
    return section


def config_yaml(config: dict) -> str:
    """The configuration as YAML, non-ASCII text (transcripts, paths, titles) kept readable."""
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def provenance_facts(workflow_dir: Path, inputs_digest: str) -> list[tuple[str, str]]:
    # No wall-clock time: the same inputs give a byte-identical page (report.inputs.json has the date).
    return [
        ("inputs", f"sha256 {inputs_digest} over the configuration and every input file"),
        ("git commit", git_commit(workflow_dir)),
        ("snakemake", _version("snakemake")),
        ("python", platform.python_version()),
        (
            "machine",
            f"{platform.node()} — {platform.platform()}, {os.cpu_count()} CPUs, {_memory()}",
        ),
        ("GPU", gpu_description()),
    ]


def git_commit(directory: Path) -> str:
    if not shutil.which("git"):
        return "unknown (git not installed)"
    try:
        head = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except subprocess.CalledProcessError:
        return f"unknown ({directory} is not a git checkout)"
    return head + (" (with uncommitted changes)" if dirty else "")


def gpu_description() -> str:
    if not shutil.which("nvidia-smi"):
        return "none detected on the machine that built the report (no nvidia-smi)"
    result = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip().replace("\n", "; ") or "none detected (nvidia-smi found no GPU)"


def _memory() -> str:
    try:
        with open("/proc/meminfo") as handle:
            kib = int(handle.readline().split()[1])
        return f"{kib / 2**20:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        return "RAM unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def package_versions() -> pl.DataFrame:
    return pl.DataFrame({"package": list(PACKAGES), "version": [_version(p) for p in PACKAGES]})
