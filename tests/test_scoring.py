"""The one scorer (emocue.scoring): per run, per seed with folds pooled, and the across-seed
aggregator with a bootstrap CI of the seed-mean (synthetic predictions; ~3 s)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from emocue import metrics
from emocue.scoring import (
    EvaluationSettings,
    PredictionsError,
    Units,
    load_decisions,
    read_predictions,
    resampled_confusions,
    score_system,
)
from emocue.stats import bootstrap_distribution

CLASSES = ["neutral", "happy", "angry", "sad"]
SETTINGS = EvaluationSettings.defaults(bootstrap=300, seed=3)


def decisions(labels, preds, fold="Session5", seed=1, level="utterance", utt_ids=None):
    return pl.DataFrame({
        "level": level, "fold": fold, "seed": seed,
        "utt_id": utt_ids if utt_ids is not None else [f"{fold}_{i}" for i in range(len(labels))],
        "label": [CLASSES[i] for i in labels], "pred": [CLASSES[i] for i in preds],
    }).cast({"seed": pl.Int32})


def noisy(rng, n, accuracy=0.6):
    labels = rng.integers(0, 4, n)
    return labels, np.where(rng.random(n) < accuracy, labels, rng.integers(0, 4, n))


def test_hand_computed_run_recall_and_confusion():
    #   true: 0 0 0 0 1 1 2 3 ; pred: 0 0 0 0 0 1 0 1
    labels, preds = [0, 0, 0, 0, 1, 1, 2, 3], [0, 0, 0, 0, 0, 1, 0, 1]
    scores = score_system(decisions(labels, preds), CLASSES, "BLSTMATT", SETTINGS)
    run = scores.runs.row(0, named=True)
    assert (run["system"], run["level"], run["n"], run["n_utterances"]) == ("BLSTMATT", "utterance", 8, 8)
    assert run["wa"] == pytest.approx(5 / 8)
    assert run["ua"] == pytest.approx((1 + 0.5 + 0 + 0) / 4)
    assert run["macro_f1"] == pytest.approx((0.8 + 0.5 + 0 + 0) / 4)
    assert [run[f"recall_{c}"] for c in CLASSES] == [1.0, 0.5, 0.0, 0.0]
    counts = scores.confusion.pivot("pred", index="label", values="count").select(CLASSES).to_numpy()
    np.testing.assert_array_equal(counts, metrics.confusion_matrix(labels, preds, 4))


def test_cis_cover_the_estimate_are_seeded_and_basic_mirrors_percentile():
    labels, preds = noisy(np.random.default_rng(0), 300)
    table = decisions(labels, preds)
    first = score_system(table, CLASSES, "X", SETTINGS).runs.row(0, named=True)
    for name in ("wa", "ua", "macro_f1"):
        assert first[f"{name}_ci_low"] < first[name] < first[f"{name}_ci_high"]
        assert first[f"{name}_ci_high"] - first[f"{name}_ci_low"] < 0.2
    assert first == score_system(table, CLASSES, "X", SETTINGS).runs.row(0, named=True)
    other_seed = score_system(table, CLASSES, "X", EvaluationSettings.defaults(bootstrap=300, seed=4))
    assert other_seed.runs["wa_ci_low"][0] != first["wa_ci_low"]
    basic = score_system(table, CLASSES, "X", EvaluationSettings.defaults(bootstrap=300, seed=3, ci="basic"))
    row = basic.runs.row(0, named=True)
    assert row["wa_ci_low"] == pytest.approx(2 * first["wa"] - first["wa_ci_high"])
    assert row["wa_ci_high"] == pytest.approx(2 * first["wa"] - first["wa_ci_low"])
    with pytest.raises(ValueError, match="evaluation.ci"):
        EvaluationSettings.defaults(ci="bca")


def test_perfect_predictions_have_degenerate_cis():
    y = [0, 1, 2, 3, 3, 2]
    run = score_system(decisions(y, y), CLASSES, "X", SETTINGS).runs.row(0, named=True)
    assert run["wa"] == run["wa_ci_low"] == run["wa_ci_high"] == 1.0
    assert run["ua"] == run["macro_f1"] == 1.0


def test_folds_are_pooled_per_seed_not_averaged():
    # Fold A: 10 utterances all right; fold B: 90 utterances, a third right. Pooled WA = 40/100,
    # the mean of the fold WAs would be (1 + 1/3) / 2.
    table = pl.concat([
        decisions([0] * 10, [0] * 10, fold="A"),
        decisions([1] * 90, [1] * 30 + [0] * 60, fold="B"),
    ])
    scores = score_system(table, CLASSES, "X", SETTINGS)
    assert scores.runs["wa"].to_list() == pytest.approx([1.0, 1 / 3])
    seed = scores.seeds.row(0, named=True)
    assert (seed["n_folds"], seed["n"]) == (2, 100)
    assert seed["wa"] == pytest.approx(0.4)


def test_summary_is_the_seed_mean_with_a_ci_of_that_mean():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 4, 200)
    runs = []
    for seed, accuracy in ((1, 0.5), (2, 0.7), (3, 0.6)):
        preds = np.where(rng.random(200) < accuracy, labels, rng.integers(0, 4, 200))
        runs.append(decisions(labels, preds, seed=seed))
    scores = score_system(pl.concat(runs), CLASSES, "X", SETTINGS)
    summary = scores.summary.row(0, named=True)
    per_seed = scores.seeds["wa"].to_numpy()
    assert summary["n_seeds"] == 3 and summary["wa"] == pytest.approx(per_seed.mean())
    assert summary["wa_sd"] == pytest.approx(per_seed.std(ddof=1))
    assert (summary["ci_method"], summary["bootstrap"]) == ("percentile", 300)

    # The CI is the bootstrap of the seed-mean, every seed on the same utterance resample ...
    units = [Units.of(run, CLASSES) for run in runs]

    def seed_mean_wa(indices):
        return np.mean([metrics.wa_from_confusion(resampled_confusions(u, indices).reshape(-1, 4, 4))
                        for u in units], axis=0)

    expected = np.quantile(bootstrap_distribution(seed_mean_wa, 200, 300, 3), [0.025, 0.975])
    assert [summary["wa_ci_low"], summary["wa_ci_high"]] == pytest.approx(expected.tolist())
    # ... which is not the average of the seeds' own CI endpoints (what report.system_summary did).
    averaged = (scores.seeds["wa_ci_low"].mean(), scores.seeds["wa_ci_high"].mean())
    assert (summary["wa_ci_low"], summary["wa_ci_high"]) != pytest.approx(averaged, abs=1e-6)


def test_chunk_level_resamples_utterances_not_chunks():
    # Every utterance has 5 chunks that all share its utterance-level decision: chunk-level scores
    # and CIs must then equal the utterance-level ones (the utterance is the resampled unit).
    labels, preds = noisy(np.random.default_rng(2), 80)
    utterance = decisions(labels, preds)
    chunk = decisions(np.repeat(labels, 5), np.repeat(preds, 5), level="chunk",
                      utt_ids=np.repeat(utterance["utt_id"].to_numpy(), 5))
    runs = score_system(pl.concat([utterance, chunk]), CLASSES, "CSA-C30", SETTINGS).runs
    by_level = {row["level"]: row for row in runs.iter_rows(named=True)}
    assert by_level["chunk"]["n"] == 400 and by_level["chunk"]["n_utterances"] == 80
    for field in ("wa", "wa_ci_low", "wa_ci_high", "ua_ci_low", "ua_ci_high"):
        assert by_level["chunk"][field] == pytest.approx(by_level["utterance"][field])


def test_seeds_tested_on_different_utterances_is_an_error():
    table = pl.concat([decisions([0, 1], [0, 1], seed=1),
                       decisions([0, 1], [0, 1], seed=2, utt_ids=["x", "y"])])
    with pytest.raises(PredictionsError, match="seed 2 was tested on other utterances"):
        score_system(table, CLASSES, "X", SETTINGS)


def write_run_tables(folder, rng, n=12):
    """A CSA run's predictions.parquet and chunk_predictions.parquet (3 chunks per utterance)."""
    folder.mkdir(parents=True)
    labels = rng.integers(0, 4, n)
    logp = np.log(rng.dirichlet(np.ones(4), size=n))
    utt_ids = [f"u{i}" for i in range(n)]
    pl.DataFrame({"utt_id": utt_ids, "label": [CLASSES[i] for i in labels],
                  "pred": [CLASSES[k] for k in logp.argmax(1)],
                  **{f"logp_{c}": logp[:, k] for k, c in enumerate(CLASSES)}}
                 ).write_parquet(folder / "predictions.parquet")
    chunk_logp = np.log(rng.dirichlet(np.ones(4), size=3 * n))
    pl.DataFrame({"utt_id": np.repeat(utt_ids, 3), "chunk": np.tile([0, 1, 2], n),
                  **{f"logp_{c}": chunk_logp[:, k] for k, c in enumerate(CLASSES)}}
                 ).write_parquet(folder / "chunk_predictions.parquet")
    return labels, chunk_logp.argmax(1)


def test_load_decisions_from_run_folders_and_from_a_fused_table(tmp_path):
    rng = np.random.default_rng(0)
    labels, chunk_preds = write_run_tables(tmp_path / "run", rng)
    table = load_decisions("CSA-C30", [tmp_path / "run" / "predictions.parquet"],
                           [{"fold": "Session5", "seed": 2}],
                           [tmp_path / "run" / "chunk_predictions.parquet"], CLASSES)
    chunk = table.filter(pl.col("level") == "chunk")
    assert chunk.height == 36 and set(table["seed"]) == {2}
    assert chunk["label"].to_list() == [CLASSES[i] for i in np.repeat(labels, 3)]
    assert chunk["pred"].to_list() == [CLASSES[k] for k in chunk_preds]

    fused = pl.read_parquet(tmp_path / "run" / "predictions.parquet")
    fused = pl.concat([fused.select(pl.lit(name).alias("system"), pl.lit("Session5").alias("fold"),
                                    pl.lit(1).alias("seed"), pl.all())
                       for name in ("SYSComb", "SYSComb-w0.4")])
    fused.write_parquet(tmp_path / "fused.parquet")
    table = load_decisions("SYSComb-w0.4", [tmp_path / "fused.parquet"], [None], [], CLASSES)
    assert table.height == 12 and set(table["level"]) == {"utterance"}
    with pytest.raises(PredictionsError, match="no rows of system 'baseline'"):
        load_decisions("baseline", [tmp_path / "fused.parquet"], [None], [], CLASSES)


def test_bad_prediction_tables_name_the_file(tmp_path):
    path = tmp_path / "predictions.parquet"
    pl.DataFrame({"utt_id": ["a"], "label": ["neutral"], "pred": ["neutral"]}).write_parquet(path)
    with pytest.raises(PredictionsError, match=r"predictions\.parquet.*logp_neutral"):
        read_predictions(path, CLASSES)
    pl.DataFrame({"utt_id": ["a"], "label": ["bored"], "pred": ["neutral"],
                  **{f"logp_{c}": [0.0] for c in CLASSES}}).write_parquet(path)
    with pytest.raises(PredictionsError, match="bored"):
        read_predictions(path, CLASSES)
