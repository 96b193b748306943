"""`snakemake interpret` and `snakemake validation` end to end on the tiny config (slow)."""

from __future__ import annotations

import polars as pl
import pytest
import yaml
from conftest import TINY_CONFIG, run_snakemake

from emocue import validation


@pytest.mark.slow
def test_interpret_writes_every_method_verdict(tiny_run):
    run_snakemake(tiny_run, "interpret", "--cores", "2")
    verdicts = pl.read_parquet(tiny_run / "results" / "interpret" / "verdicts.parquet")
    assert verdicts["method"].to_list() == list(validation.METHODS)
    assert set(verdicts["verdict"]) <= set(validation.VERDICTS)
    curve = pl.read_parquet(tiny_run / "results" / "interpret" / "deletion_curve.parquet")
    assert set(curve["ranking"]) == {"attention", "integrated_gradients", "random"}
    assert set(curve["model"]) == {"BLSTMATT", "CSA"}
    tests = pl.read_parquet(tiny_run / "results" / "interpret" / "deletion_tests.parquet")
    assert set(tests["filler"]) == {"zeros", "utterance_mean", "interpolate"}


@pytest.mark.slow
def test_validation_runs_a_planted_corpus_workflow_per_cue(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["validation"] = {"cues": ["vowels"], "seeds": [1], "base_config": str(TINY_CONFIG), "ig_steps": 4,
                            "deletion_draws": 2, "deletion_fractions": [0.0, 0.5]}
    configfile = tmp_path / "validation.yaml"
    configfile.write_text(yaml.safe_dump(config))
    run_snakemake(tmp_path, "validation", "--cores", "2", configfile=configfile)
    planted = yaml.safe_load((tmp_path / "results" / "validation" / "vowels" / "config.yaml").read_text())
    assert planted["demo"]["cue"] == "vowels" and planted["train"]["seeds"] == [1]
    summary = pl.read_parquet(tmp_path / "results" / "validation" / "summary.parquet")
    assert summary["cue"].to_list() == ["vowels"] * len(validation.METHODS)
    assert summary.columns[:9] == ["cue", "method", "verdict", "effect", "ci_low", "ci_high", "pvalue", "n",
                                   "accuracy"]
