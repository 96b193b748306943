"""What changed since the last report: the checksums of every input, kept beside report.html.

``report.inputs.json`` is deliberately *not* a declared Snakemake output (Snakemake deletes outputs
before a job runs), so the next report can say which inputs changed since this one. Only inputs
that carry results count: Snakemake's timing and log files are never inputs, and entries of them
in a sidecar written by an older report are ignored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath

SIDECAR_SUFFIX = ".inputs.json"
NOT_RESULTS = ("benchmarks", "logs")  # folders under results/ whose files carry no results
MAX_NAMED = 12  # a change line names this many files and counts the rest


def sidecar_path(report_path: str | Path) -> Path:
    report_path = Path(report_path)
    return report_path.with_name(report_path.name.removesuffix(".html") + SIDECAR_SUFFIX)


def carries_results(name: str) -> bool:
    """``results/fusion/selection.parquet`` does; ``results/benchmarks/...`` does not."""
    parts = PurePosixPath(name).parts
    return len(parts) < 2 or parts[1] not in NOT_RESULTS


def config_digest(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def inputs_digest(config_sha: str, checksums: dict[str, str]) -> str:
    """One sha256 naming the state a page was built from (configuration + every input file)."""
    state = json.dumps({"config": config_sha, "inputs": checksums}, sort_keys=True)
    return hashlib.sha256(state.encode()).hexdigest()


def describe_changes(
    previous: dict | None, checksums: dict[str, str], config_sha: str
) -> list[str]:
    """Human lines: config changed, inputs changed / new / gone since the previous sidecar."""
    if previous is None:
        return ["this is the first report in this folder (no previous report.inputs.json)."]
    old = {name: sha for name, sha in previous.get("inputs", {}).items() if carries_results(name)}
    checksums = {name: sha for name, sha in checksums.items() if carries_results(name)}
    changed = sorted(name for name in checksums.keys() & old.keys() if checksums[name] != old[name])
    new = sorted(checksums.keys() - old.keys())
    gone = sorted(old.keys() - checksums.keys())
    lines = [f"compared with the report of {previous.get('date', 'an unknown date')}"]
    if previous.get("config_sha256") != config_sha:
        lines.append("the configuration changed")
    for label, names in (("changed", changed), ("new", new), ("no longer present", gone)):
        if names:
            shown = ", ".join(names[:MAX_NAMED]) + (
                f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
            )
            lines.append(f"{len(names)} input(s) {label}: {shown}")
    if len(lines) == 1:
        lines.append("no input changed")
    return lines


def write_sidecar(path: Path, date: str, config_sha: str, checksums: dict[str, str]) -> None:
    record = {"date": date, "config_sha256": config_sha, "inputs": checksums}
    path.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")


def read_sidecar(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


