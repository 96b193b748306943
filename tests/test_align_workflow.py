"""`snakemake align` end to end on the demo corpus: acceptance numbers and the rerun scope.

Integration tests, marked slow: one `snakemake align` run of the default demo config (about 60 s
on 2 cores) shared by all tests, plus dry runs (about 10 s).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO, run_snakemake

pytestmark = pytest.mark.slow
SESSIONS = [f"Session{n}" for n in range(1, 6)]
CONFIG = REPO / "config.yaml"  # the default demo configuration


def planned_jobs(dry_run_output: str) -> set[tuple[str, str]]:
    """(rule, session) of every job a dry run plans (also inside group jobs, which indent them)."""
    jobs: list[list[str]] = []
    for line in dry_run_output.splitlines():
        rule = re.match(r"\s*(?:local)?rule (\w+):", line)
        if rule:
            jobs.append([rule.group(1), ""])
        session = re.match(r"\s*wildcards: .*?session=(\w+)", line)
        if session and jobs:
            jobs[-1][1] = session.group(1)
    return {tuple(job) for job in jobs}


@pytest.fixture(scope="module")
def demo_aligned(tmp_path_factory) -> Path:
    """The default config's demo corpus (5 sessions) aligned with the `textgrid` backend."""
    workdir = tmp_path_factory.mktemp("align_demo")
    run_snakemake(workdir, "--cores", "2", "align", configfile=CONFIG)
    return workdir


def test_demo_alignment_acceptance(demo_aligned):
    qa = pl.concat([pl.read_parquet(demo_aligned / f"results/align/{s}.qa.parquet") for s in SESSIONS])
    manifests = pl.concat([pl.read_parquet(demo_aligned / f"results/corpus/{s}.parquet") for s in SESSIONS])
    assert sorted(qa["utt_id"]) == sorted(manifests["utt_id"])  # every utterance accounted for
    assert qa["aligned"].mean() >= 0.99
    summary = json.loads((demo_aligned / "results/align/Session1.summary.json").read_text())
    assert summary["n_utterances"] == qa.filter(pl.col("utt_id").is_in(
        pl.read_parquet(demo_aligned / "results/corpus/Session1.parquet")["utt_id"].implode()
    )).height


@pytest.mark.parametrize("session", SESSIONS)
def test_demo_phones_tile_each_utterance(demo_aligned, session):
    intervals = pl.read_parquet(demo_aligned / f"results/align/{session}.intervals.parquet")
    manifest = pl.read_parquet(demo_aligned / f"results/corpus/{session}.parquet")
    duration = dict(manifest.select("utt_id", "duration_s").iter_rows())
    phones = intervals.filter(tier="phone").sort("utt_id", "index")
    assert phones.height > 0
    for utt_id, utt in phones.group_by("utt_id"):
        starts, ends = utt["start_s"].to_list(), utt["end_s"].to_list()
        assert starts[0] == 0.0, utt_id
        assert all(abs(a - b) < 1e-9 for a, b in zip(ends[:-1], starts[1:])), f"{utt_id}: gap or overlap"
        assert all(e > s for s, e in zip(starts, ends)), utt_id
        assert abs(ends[-1] - duration[utt_id[0]]) < 0.02, utt_id  # the alignment covers the audio
        # frames tile too: each frame to exactly one phone
        frames = utt["start_frame"].to_list(), utt["end_frame"].to_list()
        assert frames[0][0] == 0 and frames[0][1:] == frames[1][:-1]
    classes = set(phones["phone_class"])
    assert {"vowel", "consonant"} <= classes and "other" not in classes


def test_changing_one_session_reruns_only_its_alignment(demo_aligned, tmp_path, copy_tree):
    workdir = copy_tree(demo_aligned, tmp_path / "work")  # keeps mtimes and Snakemake's metadata

    def dry_run():
        return planned_jobs(run_snakemake(workdir, "-n", "align", configfile=CONFIG).stdout) - {("align", "")}

    assert dry_run() == set()

    # a changed transcript in Session2's manifest: only Session2's alignment is redone.
    # (Content must change: Snakemake skips inputs that are only newer but have the same checksum.)
    manifest_path = workdir / "results/corpus/Session2.parquet"
    manifest = pl.read_parquet(manifest_path)
    manifest.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("transcript") + " again").otherwise(pl.col("transcript"))
    ).write_parquet(manifest_path)
    assert dry_run() == {("align_session", "Session2")}

    # Session4 regenerated (the demo corpus's per-session summary is the corpus rule's input):
    # its manifest and alignment are redone, nothing else
    summary_path = workdir / "results/demo/Session4.json"
    summary = json.loads(summary_path.read_text())
    summary_path.write_text(json.dumps({**summary, "regenerated": True}))
    assert dry_run() == {("align_session", "Session2"), ("corpus_session", "Session4"), ("align_session", "Session4")}


def test_mfa_train_mode_through_snakemake(demo_aligned, tmp_path, copy_tree, monkeypatch):
    """backend mfa, mode train, with the stand-in `mfa` first on PATH (tests/bin/mfa)."""
    import yaml

    workdir = copy_tree(demo_aligned, tmp_path / "work")
    config = yaml.safe_load(CONFIG.read_text())
    config["align"] = {"backend": "mfa", "mfa": {"mode": "train"}}
    configfile = tmp_path / "mfa.yaml"
    configfile.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("PATH", f"{Path(__file__).parent / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MFA_STANDIN_RECORD", str(tmp_path / "calls.jsonl"))
    run_snakemake(workdir, "--cores", "2", "align", configfile=configfile)

    calls = [json.loads(line)["argv"] for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [argv[0] for argv in calls] == ["train", "align"]  # train on Sessions 1-4, align Session5
    staged = {p.parent.name for p in (workdir / "results/align/mfa_train/work/corpus").rglob("*.lab")}
    assert staged and all(not speaker.startswith("Ses05") for speaker in staged)
    for session in SESSIONS:
        qa = pl.read_parquet(workdir / f"results/align/{session}.qa.parquet")
        manifest = pl.read_parquet(workdir / f"results/corpus/{session}.parquet")
        assert qa.height == manifest.height and qa["aligned"].mean() >= 0.99
