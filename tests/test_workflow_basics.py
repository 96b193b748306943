"""Workflow-level checks: lint, dry run of the default config, and the tiny config through the
`corpus` and `features` targets (integration: demo generation + corpus + features, ~1-2 min)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf
import yaml
from conftest import REPO, run_snakemake

from emocue.config import load_config
from emocue.features import load_features

DEFAULT_CONFIG = REPO / "config.yaml"


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """rule -> job count from the 'Job stats' table of a dry run."""
    table = dry_run_output.split("Job stats:", 1)[-1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", table, re.MULTILINE)
            if rule != "total"}


def test_lint_is_clean(tmp_path):
    proc = run_snakemake(tmp_path, "--lint", configfile=DEFAULT_CONFIG, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Lints for rule" not in output and "Lints for snakefile" not in output, output


def test_dry_run_of_default_config_plans_every_session(tmp_path):
    proc = run_snakemake(tmp_path, "-n", configfile=DEFAULT_CONFIG)
    jobs = planned_jobs(proc.stdout + proc.stderr)
    sessions = len(load_config(DEFAULT_CONFIG)["corpus"]["sessions"])
    for rule in ("demo_session", "corpus_session", "extract_features"):
        assert jobs.get(rule) == sessions, jobs


@pytest.fixture(scope="module")
def tiny_features(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny_features")
    run_snakemake(workdir, "--cores", "2", "corpus", "features")
    return workdir


@pytest.mark.slow
def test_tiny_corpus_and_features(tiny_features):
    config = load_config(REPO / "tests" / "data" / "tiny.yaml")
    label_map = config["corpus"]["label_map"]
    results = tiny_features / "results"
    for session in config["corpus"]["sessions"]:
        summary = json.loads((results / "demo" / f"{session}.json").read_text())
        manifest = pl.read_parquet(results / "corpus" / f"{session}.parquet")
        dropped = pl.read_parquet(results / "corpus" / f"{session}.dropped.parquet")
        # Every generated utterance is either kept or dropped for its label, nothing else.
        assert manifest.height + dropped.height == summary["n_utterances"]
        assert all(reason.startswith("label ") for reason in dropped["reason"])
        kept = {raw: n for raw, n in summary["raw_labels"].items() if raw in label_map}
        assert dict(manifest.group_by("raw_label").len().iter_rows()) == kept
        assert set(manifest["corpus"]) == {"demo"} and set(manifest["session"]) == {session}
        assert manifest["transcript"].null_count() == 0
        assert set(manifest["speaker"]) <= {s["speaker"] for s in summary["speakers"]}
        features = load_features(results / "features" / f"{session}.npz")
        assert features.utt_ids.tolist() == manifest["utt_id"].to_list()
        assert features.feats.shape[1] == 23 and np.isfinite(features.feats).all()
        expected_frames = [1 + (round(d * 16000) - 400) // 160 for d in manifest["duration_s"]]
        assert features.lengths.tolist() == expected_frames
        stats = pl.read_parquet(results / "features" / f"{session}.stats.parquet")
        assert sorted(stats["speaker"]) == sorted(set(manifest["speaker"]))
        assert stats["num_frames"].sum() == len(features.feats)
    for rule in ("corpus_session", "extract_features"):
        assert len(list((results / "logs" / rule).glob("*.log"))) == len(config["corpus"]["sessions"])
        assert len(list((results / "benchmarks" / rule).glob("*.tsv"))) == len(config["corpus"]["sessions"])


@pytest.mark.slow
def test_second_run_has_nothing_to_do(tiny_features):
    proc = run_snakemake(tiny_features, "-n", "corpus", "features")
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_changing_one_wav_reruns_only_its_session(tiny_features, tmp_path):
    """corpus.type iemocap (the generated tree, copied, read as IEMOCAP): input = the session's files.

    Snakemake 9 also compares checksums of inputs under 1 MB, so a mere `touch` of a small wav
    re-runs nothing; a changed file re-runs its session only.
    """
    root = tmp_path / "IEMOCAP"
    for session in ("Session1", "Session2"):
        shutil.copytree(tiny_features / "results/demo/IEMOCAP_demo" / session, root / session)
    config = yaml.safe_load((REPO / "tests" / "data" / "tiny.yaml").read_text())
    config["corpus"].update(type="iemocap", root=str(root), sessions=["Session1", "Session2"])
    config["split"] = {"test_session": "Session2"}
    configfile = tmp_path / "iemocap.yaml"
    configfile.write_text(yaml.safe_dump(config))
    workdir = tmp_path / "work"
    run_snakemake(workdir, "--cores", "2", "corpus", "features", configfile=configfile)
    wav = next((root / "Session2/sentences/wav").rglob("*.wav"))
    samples, rate = sf.read(wav)
    sf.write(wav, samples * 0.5, rate, subtype="PCM_16")
    proc = run_snakemake(workdir, "-n", "corpus", "features", configfile=configfile)
    output = proc.stdout + proc.stderr
    assert planned_jobs(output) == {"corpus_session": 1, "extract_features": 1, "corpus": 1, "features": 1}
    assert "session=Session2" in output and "session=Session1" not in output
