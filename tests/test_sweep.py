"""The CSA context sweep table from synthetic run folders and score-stage tables (~2 s)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from emocue import layout, metrics
from emocue.scoring import EvaluationSettings, PredictionsError, load_decisions, score_system, write_scores
from emocue.sweep import ContextScores, SweepRun, run_sweep

CLASSES = ["neutral", "happy", "angry", "sad"]


def write_run(results, context, fold, seed, rng, n_test=60, n_val=30, left_out=(3, 2)):
    """A CSA run folder as the training stage writes it (docs/outputs.md, train)."""
    run_dir = Path(layout.run_dir("csa", fold, seed, context, root=str(results)))
    run_dir.mkdir(parents=True)
    for name, n, dropped in (("predictions", n_test, left_out[0]),
                             ("val_predictions", n_val, left_out[1])):
        labels = rng.integers(0, len(CLASSES), n - dropped)
        logits = rng.normal(size=(labels.size, len(CLASSES)))
        logits[np.arange(labels.size), labels] += 1.5
        utt_ids = [f"{name}_{i}" for i in range(labels.size)]
        pl.DataFrame({
            "utt_id": utt_ids,
            "label": [CLASSES[i] for i in labels],
            "pred": [CLASSES[i] for i in logits.argmax(1)],
            **{f"logp_{c}": logits[:, k] for k, c in enumerate(CLASSES)},
        }).write_parquet(run_dir / layout.RUN_FILES[name])
        if name == "predictions":  # two chunks per utterance: the utterance's logits, then noise
            chunk_logits = np.concatenate([logits, rng.normal(size=logits.shape)])
            pl.DataFrame({"utt_id": utt_ids * 2, **{f"logp_{c}": chunk_logits[:, k]
                                                    for k, c in enumerate(CLASSES)}}
                         ).write_parquet(run_dir / layout.RUN_FILES["chunk_predictions"])
    (run_dir / layout.RUN_FILES["metrics"]).write_text(json.dumps(
        {"n_left_out": {"train": 0, "val": left_out[1], "test": left_out[0]}}))
    return SweepRun(context, fold, seed, run_dir / layout.RUN_FILES["val_predictions"],
                    run_dir / layout.RUN_FILES["metrics"])


def score_contexts(results, runs, bootstrap=100) -> list[ContextScores]:
    """What the score stage writes for each context (emocue.scoring)."""
    scores = []
    for context in sorted({run.context for run in runs}):
        system = layout.csa_system(context)
        mine = [run for run in runs if run.context == context]
        folders = [run.metrics.parent for run in mine]
        decisions = load_decisions(
            system, [folder / layout.RUN_FILES["predictions"] for folder in folders],
            [{"fold": run.fold, "seed": run.seed} for run in mine],
            [folder / layout.RUN_FILES["chunk_predictions"] for folder in folders], CLASSES)
        outputs = layout.score_outputs(system, root=str(results))
        write_scores(score_system(decisions, CLASSES, system, EvaluationSettings.defaults(bootstrap=bootstrap)),
                     outputs)
        scores.append(ContextScores(context, Path(outputs["runs"]), Path(outputs["summary"])))
    return scores


def test_sweep_table_and_summary(tmp_path):
    rng = np.random.default_rng(0)
    runs = [write_run(tmp_path, context, "Session5", seed, rng, left_out=(context // 10, 1))
            for context in (60, 30) for seed in (1, 2)]
    outputs = layout.stage_outputs(layout.SWEEP_OUTPUTS, root=str(tmp_path))
    sweep = run_sweep(runs, score_contexts(tmp_path, runs), CLASSES, outputs)
    assert sweep.columns[:5] == ["context", "fold", "seed", "n_test_kept", "n_test_left_out"]
    assert sweep["context"].to_list() == [30, 30, 60, 60]
    assert sweep["n_test_left_out"].to_list() == [3, 3, 6, 6]
    assert sweep["n_test_kept"].to_list() == [57, 57, 54, 54]
    assert sweep["n_test_chunks"].to_list() == [114, 114, 108, 108]
    assert sweep["n_val_left_out"].to_list() == [1] * 4

    first = sweep.row(0, named=True)
    folder = runs[2].metrics.parent  # context 30, seed 1
    test = pl.read_parquet(folder / "predictions.parquet")
    labels = [CLASSES.index(x) for x in test["label"]]
    preds = [CLASSES.index(x) for x in test["pred"]]
    assert first["wa"] == pytest.approx(metrics.weighted_accuracy(labels, preds, 4))
    assert first["ua"] == pytest.approx(metrics.unweighted_accuracy(labels, preds, 4))
    assert first["macro_f1"] == pytest.approx(metrics.macro_f1(labels, preds, 4))
    assert first["wa_ci_low"] <= first["wa"] <= first["wa_ci_high"]
    # Chunk level: each chunk's own decision (the noisy second chunks pull it below the utterance's).
    chunks = pl.read_parquet(folder / "chunk_predictions.parquet")
    chunk_preds = chunks.select(f"logp_{c}" for c in CLASSES).to_numpy().argmax(1)
    assert first["chunk_wa"] == pytest.approx(np.mean(chunk_preds == np.tile(labels, 2)))
    assert first["chunk_wa"] < first["wa"]
    val = pl.read_parquet(runs[2].val_predictions)
    assert first["val_wa"] == pytest.approx((val["label"] == val["pred"]).mean())

    summary = pl.read_parquet(outputs["summary"])
    assert summary["context"].to_list() == [30, 60] and summary["n_runs"].to_list() == [2, 2]
    assert summary["n_seeds"].to_list() == [2, 2]
    assert summary["ua"][0] == pytest.approx(sweep["ua"][:2].mean())  # one fold: seed-mean
    assert summary["ua_sd"][0] == pytest.approx(sweep["ua"][:2].std(ddof=1))
    assert summary["chunk_wa"][0] == pytest.approx(sweep["chunk_wa"][:2].mean())
    assert summary["n_test_left_out_mean"].to_list() == [3.0, 6.0]


def test_missing_left_out_count_is_an_error(tmp_path):
    run = write_run(tmp_path, 30, "Session5", 1, np.random.default_rng(1))
    scores = score_contexts(tmp_path, [run], bootstrap=20)
    run.metrics.write_text("{}")
    with pytest.raises(PredictionsError, match="n_left_out"):
        run_sweep([run], scores, CLASSES, layout.stage_outputs(layout.SWEEP_OUTPUTS, str(tmp_path)))
