"""Incremental reruns: what `snakemake -n` plans after one change to a finished workflow.

A finished workflow is faked cheaply (tests/finished_workflow.py): a manifest corpus of placeholder
audio files and every output marked up to date with `snakemake --touch`. The workflow sources are a
copy in tmp_path, so a report template can be edited without touching the repository.
Takes ~60 s of CPU (about 4 min wall on the loaded 2-core dev machine): each of the ~20 Snakemake
calls parses the workflow.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SNAKEMAKE, TINY_CONFIG
from finished_workflow import mark_outputs_up_to_date

SESSIONS = [f"Session{n}" for n in range(1, 6)]
LABELS = ["neu", "hap", "ang", "sad"]
# Rules with one job per session (the baseline's functionals too, when the config has the baseline).
PER_SESSION_RULES = {"corpus_session", "extract_features", "align_session", "baseline_functionals"}
TRAIN_RULES = {"train_blstmatt", "train_csa"}
RULE_LINE = re.compile(r"^\s*(?:local)?rule (\w+):$")
WILDCARDS_LINE = re.compile(r"^\s*wildcards: (.*)$")


def jobs_in(dry_run: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a `snakemake -n` output lists (also inside group jobs),
    the target rule `all` left out."""
    jobs: list[list[str]] = []
    for line in dry_run.splitlines():
        if rule := RULE_LINE.match(line):
            jobs.append([rule.group(1), ""])
        elif (wildcards := WILDCARDS_LINE.match(line)) and jobs:
            jobs[-1][1] = wildcards.group(1)
    return {(rule, wildcards) for rule, wildcards in jobs if rule != "all"}


class FinishedWorkflow:
    """A copy of the workflow sources plus a work dir whose outputs are all up to date."""

    def __init__(self, root: Path):
        self.sources = root / "emocue"
        self.workdir = root / "work"
        self.workdir.mkdir()
        shutil.copytree(REPO / "workflow", self.sources / "workflow",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(REPO / "profiles", self.sources / "profiles")
        for name in ("Snakefile", "config.yaml"):
            shutil.copy2(REPO / name, self.sources / name)
        (self.sources / "envs").symlink_to(REPO / "envs")
        self.configfile = self.workdir / "config.yaml"
        self.write_corpus()

    def write_corpus(self) -> None:
        rows = ["utt_id\tpath\tspeaker\tsession\tlabel\ttranscript"]
        for number, session in enumerate(SESSIONS, start=1):
            for index, label in enumerate(LABELS):
                path = Path("audio") / session / f"u{number}_{index}.wav"
                (self.workdir / path).parent.mkdir(parents=True, exist_ok=True)
                (self.workdir / path).write_bytes(b"placeholder")  # never read: jobs are not run
                speaker = f"Ses0{number}{'FM'[index % 2]}"
                rows.append(f"{session}_u{index}\t{path}\t{speaker}\t{session}\t{label}\thello there")
        (self.workdir / "manifest.tsv").write_text("\n".join(rows) + "\n")
        (self.workdir / "textgrids").mkdir()
        config = yaml.safe_load(TINY_CONFIG.read_text())
        config.pop("demo", None)
        config["corpus"].update(type="manifest", root=".", manifest="manifest.tsv")
        config["align"] = {"backend": "textgrid", "textgrid_dir": "textgrids"}
        self.write_config(config)

    def config(self) -> dict:
        return yaml.safe_load(self.configfile.read_text())

    def write_config(self, config: dict) -> None:
        self.configfile.write_text(yaml.safe_dump(config, sort_keys=False))

    def snakemake(self, *args: str) -> str:
        cmd = [*SNAKEMAKE, "-s", str(self.sources / "Snakefile"), "-d", str(self.workdir),
               "--configfile", str(self.configfile), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        return proc.stdout + proc.stderr

    def finish(self) -> None:
        """Mark every output up to date (created empty where missing)."""
        mark_outputs_up_to_date(self.snakemake, self.workdir)
        assert self.planned() == set(), "outputs are not up to date after --touch"

    def planned_after_config_change(self, section: str, key: str, increment: int) -> set[tuple[str, str]]:
        """The dry-run plan with config[section][key] increased; the config is restored after."""
        original = self.config()
        changed = self.config()
        changed[section][key] += increment
        self.write_config(changed)
        try:
            return self.planned()
        finally:
            self.write_config(original)
            self.finish()

    def planned(self, *args: str) -> set[tuple[str, str]]:
        """(rule, wildcards) of every job a dry run plans."""
        return jobs_in(self.snakemake("-n", *args))


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> FinishedWorkflow:
    root = tmp_path_factory.mktemp("reruns")
    workflow = FinishedWorkflow(root)
    workflow.finish()
    return workflow


@pytest.fixture(scope="module")
def all_jobs(finished) -> set[tuple[str, str]]:
    """Every job of the workflow: what a dry run plans with every rule forced."""
    return finished.planned("--forceall")


def change_file(path: Path) -> None:
    """New content, hence a newer mtime than the outputs (Snakemake ignores a newer mtime of a
    small input whose checksum is unchanged, so a mere `touch` is not a change). No mtime in the
    future: the following `--touch` would then see inputs newer than the clock."""
    path.write_bytes(path.read_bytes() + b" changed")


def rules(jobs: set[tuple[str, str]]) -> set[str]:
    return {rule for rule, _ in jobs}


def test_changing_one_sessions_audio_plans_that_session_and_downstream_only(finished, all_jobs):
    change_file(finished.workdir / "audio" / "Session2" / "u2_1.wav")
    try:
        planned = finished.planned()
    finally:
        finished.finish()
    # Everything downstream of Session 2's features and alignment: every training run (all use
    # Session 2 for training or testing) and every analysis job after them.
    downstream = {job for job in all_jobs if job[0] not in PER_SESSION_RULES}
    assert per_session_jobs(planned, ["Session2"], all_jobs) == downstream
    assert TRAIN_RULES <= rules(planned)


def planned_after_manifest_edit(finished, edit) -> set[tuple[str, str]]:
    """The dry-run plan after `edit(lines)` of the manifest's lines; the manifest is restored after."""
    manifest = finished.workdir / "manifest.tsv"
    original = manifest.read_text()
    manifest.write_text("\n".join(edit(original.splitlines())) + "\n")
    try:
        return finished.planned()
    finally:
        manifest.write_text(original)
        finished.finish()


def per_session_jobs(planned, sessions, all_jobs) -> set[tuple[str, str]]:
    """Checks that the per-session jobs planned are exactly those of `sessions`; returns the others."""
    session_rules = rules(all_jobs) & PER_SESSION_RULES
    assert {"corpus_session", "extract_features"} <= session_rules
    assert {job for job in planned if job[0] in PER_SESSION_RULES} == {
        (rule, f"session={session}") for rule in session_rules for session in sessions}
    return {job for job in planned if job[0] not in PER_SESSION_RULES}


def test_editing_one_manifest_row_plans_its_session_and_downstream_only(finished, all_jobs):
    planned = planned_after_manifest_edit(finished, lambda lines: [
        line.replace("hello there", "hello again") if line.startswith("Session2_u1\t") else line for line in lines])
    downstream = {job for job in all_jobs if job[0] not in PER_SESSION_RULES}
    assert per_session_jobs(planned, ["Session2"], all_jobs) == downstream


def test_a_new_and_a_removed_row_change_their_own_sessions_only(finished, all_jobs):
    def add_and_remove(lines):
        added = next(line for line in lines if line.startswith("Session3_u0\t")).replace("Session3_u0", "Session3_u9")
        return [line for line in lines if not line.startswith("Session4_u2\t")] + [added]

    per_session_jobs(planned_after_manifest_edit(finished, add_and_remove), ["Session3", "Session4"], all_jobs)


def test_a_column_no_reader_uses_changes_nothing(finished):
    planned = planned_after_manifest_edit(finished, lambda lines: [
        line + ("\tnotes" if number == 0 else "\tseen") for number, line in enumerate(lines)])
    assert planned == set()


def test_changing_a_report_template_plans_only_the_report(finished):
    templates = sorted((finished.sources / "workflow" / "templates").glob("report*"))
    assert templates, "no report template found"
    original = templates[0].read_text()
    templates[0].write_text(original + "\n")
    try:
        planned = finished.planned()
    finally:
        templates[0].write_text(original)
        finished.finish()
    assert planned == {("build_report", "")}


def test_changing_a_csa_hyper_parameter_plans_only_csa_jobs_and_downstream(finished, all_jobs):
    planned = finished.planned_after_config_change("csa", "channels", 4)
    assert "train_csa" in rules(planned)
    assert not rules(planned) & (PER_SESSION_RULES | {"train_blstmatt", "demo_session"})
    # Downstream of CSA: the sweep table, fusion, the charts (they draw CSA's chunk posteriors) and
    # the report; not the BLSTMATT attention statistics.
    assert {rule for rule in rules(planned) if rule.startswith("attention")} == {"attention_plots"}
    assert {"sweep_table", "fuse_systems", "compare_systems", "build_report"} <= rules(planned)
    assert {job for job in all_jobs if job[0] == "train_csa"} <= planned


def test_changing_a_blstmatt_hyper_parameter_leaves_csa_alone(finished):
    planned = finished.planned_after_config_change("blstmatt", "hidden_size", 8)
    assert "train_blstmatt" in rules(planned)
    assert not rules(planned) & (PER_SESSION_RULES | {"train_csa", "sweep_table"})


SCORING_RULES = {"score_system", "sweep_table", "compare_systems", "build_table1", "build_report"}


def test_changing_scoring_settings_plans_no_training(finished, all_jobs):
    # Issue 12.3: bootstrap resamples (like every `evaluation` key) only change how predictions are
    # scored; before, `train.bootstrap` was a training param and reran every training job.
    planned = finished.planned_after_config_change("evaluation", "bootstrap", 100)
    # Fusion's choices use validation alone, so it (and the charts that show its choice) stays.
    assert not rules(planned) & (TRAIN_RULES | PER_SESSION_RULES | {"attention_stats", "fuse_systems",
                                                                     "attention_plots"})
    assert SCORING_RULES <= rules(planned)
    assert {job for job in all_jobs if job[0] == "score_system"} <= planned


def test_changing_the_training_device_plans_no_training(finished):
    original = finished.config()
    changed = finished.config()
    changed["train"]["device"] = "auto"  # tiny.yaml: cpu
    finished.write_config(changed)
    try:
        planned = finished.planned()
    finally:
        finished.write_config(original)
        finished.finish()
    assert not rules(planned) & TRAIN_RULES
