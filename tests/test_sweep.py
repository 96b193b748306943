"""The CSA context sweep table from synthetic run folders (~2 s)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from emocue import metrics
from emocue.sweep import PredictionsError, SweepRun, csa_run_dir, read_predictions, run_sweep

CLASSES = ["neutral", "happy", "angry", "sad"]


def write_run(results, context, fold, seed, rng, n_test=60, n_val=30, left_out=(3, 2)):
    """A CSA run folder as the training stage writes it (docs/outputs.md, train)."""
    run_dir = csa_run_dir(results, context, fold, seed)
    run_dir.mkdir(parents=True)
    for name, n, dropped in (("predictions", n_test, left_out[0]),
                             ("val_predictions", n_val, left_out[1])):
        labels = rng.integers(0, len(CLASSES), n - dropped)
        logits = rng.normal(size=(labels.size, len(CLASSES)))
        logits[np.arange(labels.size), labels] += 1.5
        pl.DataFrame({
            "utt_id": [f"{name}_{i}" for i in range(labels.size)],
            "label": [CLASSES[i] for i in labels],
            "pred": [CLASSES[i] for i in logits.argmax(1)],
            **{f"logp_{c}": logits[:, k] for k, c in enumerate(CLASSES)},
        }).write_parquet(run_dir / f"{name}.parquet")
    (run_dir / "metrics.json").write_text(json.dumps(
        {"n_left_out": {"train": 0, "val": left_out[1], "test": left_out[0]}}))
    return SweepRun(context, fold, seed, run_dir / "predictions.parquet",
                    run_dir / "val_predictions.parquet", run_dir / "metrics.json")


def test_sweep_table_and_summary(tmp_path):
    rng = np.random.default_rng(0)
    runs = [write_run(tmp_path, context, "Session5", seed, rng, left_out=(context // 10, 1))
            for context in (60, 30) for seed in (1, 2)]
    sweep = run_sweep(runs, CLASSES, 200, tmp_path / "sweep.parquet", tmp_path / "summary.parquet")
    assert sweep.columns[:5] == ["context", "fold", "seed", "n_test_kept", "n_test_left_out"]
    assert sweep["context"].to_list() == [30, 30, 60, 60]
    assert sweep["n_test_left_out"].to_list() == [3, 3, 6, 6]
    assert sweep["n_test_kept"].to_list() == [57, 57, 54, 54]
    assert sweep["n_val_left_out"].to_list() == [1] * 4

    first = sweep.row(0, named=True)
    test = pl.read_parquet(runs[2].test_predictions)  # context 30, seed 1
    labels = [CLASSES.index(x) for x in test["label"]]
    preds = [CLASSES.index(x) for x in test["pred"]]
    assert first["wa"] == pytest.approx(metrics.weighted_accuracy(labels, preds, 4))
    assert first["ua"] == pytest.approx(metrics.unweighted_accuracy(labels, preds, 4))
    assert first["macro_f1"] == pytest.approx(metrics.macro_f1(labels, preds, 4))
    assert first["wa_ci_low"] <= first["wa"] <= first["wa_ci_high"]

    summary = pl.read_parquet(tmp_path / "summary.parquet")
    assert summary["context"].to_list() == [30, 60] and summary["n_runs"].to_list() == [2, 2]
    assert summary["ua_mean"][0] == pytest.approx(sweep["ua"][:2].mean())
    assert summary["n_test_left_out_mean"].to_list() == [3.0, 6.0]


def test_bad_prediction_tables_name_the_file(tmp_path):
    path = tmp_path / "predictions.parquet"
    pl.DataFrame({"utt_id": ["a"], "label": ["neutral"], "pred": ["neutral"]}).write_parquet(path)
    with pytest.raises(PredictionsError, match=r"predictions\.parquet.*logp_neutral"):
        read_predictions(path, CLASSES)
    pl.DataFrame({"utt_id": ["a"], "label": ["bored"], "pred": ["neutral"],
                  **{f"logp_{c}": [0.0] for c in CLASSES}}).write_parquet(path)
    with pytest.raises(PredictionsError, match="bored"):
        read_predictions(path, CLASSES)


def test_missing_left_out_count_is_an_error(tmp_path):
    run = write_run(tmp_path, 30, "Session5", 1, np.random.default_rng(1))
    run.metrics.write_text("{}")
    with pytest.raises(PredictionsError, match="n_left_out"):
        run_sweep([run], CLASSES, 50, tmp_path / "s.parquet", tmp_path / "t.parquet")
