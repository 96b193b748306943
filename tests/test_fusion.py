"""Fusion arithmetic, validation-only selection, and the significance stage that compares the
systems fusion wrote (synthetic prediction tables; ~10 s)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from scipy.special import logsumexp

from conftest import run_snakemake
from emocue import layout
from emocue.fusion import (
    FusionOutputs,
    FusionSettings,
    RunInputs,
    RunResult,
    fuse,
    fuse_run,
    pair_posteriors,
    run_fusion,
    select_fusion,
)
from emocue.scoring import EvaluationSettings
from emocue.significance import RunPredictions, compare_run, compare_systems, run_significance
from emocue.stats import mcnemar_exact, paired_bootstrap_difference

CLASSES = ["neutral", "happy", "angry", "sad"]
EVALUATION = EvaluationSettings.defaults(bootstrap=50)


def prediction_table(utt_ids, labels, logits) -> pl.DataFrame:
    """A table like the training stage's predictions.parquet (log-softmax of ``logits``)."""
    logp = logits - logsumexp(logits, axis=1, keepdims=True)
    return pl.DataFrame({
        "utt_id": list(utt_ids), "label": [CLASSES[i] for i in labels],
        "pred": [CLASSES[i] for i in logp.argmax(axis=1)],
        **{f"logp_{name}": logp[:, k] for k, name in enumerate(CLASSES)},
    })


def noisy_logits(rng, labels, signal) -> np.ndarray:
    logits = rng.normal(size=(labels.size, len(CLASSES)))
    logits[np.arange(labels.size), labels] += signal
    return logits


def synthetic_run(seed=0, n_val=120, n_test=150, contexts=(30, 60), left_out=None,
                  fold="Session5") -> RunInputs:
    """BLSTMATT and CSA (per context) predictions; CSA leaves out the first ``left_out[C]``
    utterances of each split (the 'short' ones)."""
    rng = np.random.default_rng(seed)
    left_out = left_out or {30: 5, 60: 20}
    tables = {}
    for split, n in (("val", n_val), ("test", n_test)):
        utt_ids = [f"{split}_{i:04d}" for i in range(n)]
        labels = rng.integers(0, len(CLASSES), n)
        tables[split, "blstmatt"] = prediction_table(utt_ids, labels, noisy_logits(rng, labels, 1.0))
        for context in contexts:
            csa = prediction_table(utt_ids, labels, noisy_logits(rng, labels, 1.0 + context / 60))
            tables[split, context] = csa.slice(left_out[context])
    return RunInputs(
        fold=fold, seed=seed,
        blstmatt_val=tables["val", "blstmatt"], blstmatt_test=tables["test", "blstmatt"],
        csa_val={c: tables["val", c] for c in contexts},
        csa_test={c: tables["test", c] for c in contexts},
    )


# ---- fusion arithmetic ---------------------------------------------------------------------------


def test_weight_zero_is_blstmatt_and_rows_are_normalised():
    run = synthetic_run()
    pair = pair_posteriors(run.blstmatt_test, run.csa_test[30], CLASSES, "test")
    fused = fuse(pair.blstmatt_logp, pair.csa_logp, 0.0)
    np.testing.assert_allclose(fused, pair.blstmatt_logp, atol=1e-12)
    for weight in (0.4, 1.0, 3.0):
        np.testing.assert_allclose(np.exp(fuse(pair.blstmatt_logp, pair.csa_logp, weight)).sum(1), 1.0)


def test_fusion_is_the_weighted_log_linear_combination():
    run = synthetic_run()
    pair = pair_posteriors(run.blstmatt_test, run.csa_test[30], CLASSES, "test")
    kept = pair.kept
    fused = fuse(pair.blstmatt_logp, pair.csa_logp, 0.4)
    by_hand = np.exp(pair.blstmatt_logp[kept]) * np.exp(pair.csa_logp[kept]) ** 0.4
    np.testing.assert_allclose(np.exp(fused[kept]), by_hand / by_hand.sum(1, keepdims=True))


def test_large_weight_approaches_csa_decisions():
    run = synthetic_run()
    pair = pair_posteriors(run.blstmatt_test, run.csa_test[30], CLASSES, "test")
    kept = pair.kept
    csa_decisions = pair.csa_logp[kept].argmax(1)
    agreement = [np.mean(fuse(pair.blstmatt_logp, pair.csa_logp, w)[kept].argmax(1) == csa_decisions)
                 for w in (0.0, 1.0, 10.0, 1000.0)]
    assert agreement[-1] == 1.0
    assert agreement[0] < 1.0 and agreement == sorted(agreement)


def test_left_out_utterances_fall_back_to_blstmatt_and_are_counted():
    run = synthetic_run(left_out={30: 7, 60: 20})
    pair = pair_posteriors(run.blstmatt_test, run.csa_test[30], CLASSES, "test")
    assert (~pair.kept).sum() == 7 and not pair.kept[:7].any()
    fused = fuse(pair.blstmatt_logp, pair.csa_logp, 1.5)
    np.testing.assert_allclose(fused[~pair.kept], pair.blstmatt_logp[~pair.kept], atol=1e-12)

    result = fuse_run(run, CLASSES, FusionSettings.defaults(context=30))
    selection = result.selection.row(0, named=True)
    assert selection["n_test_fallback"] == 7 and selection["n_val_fallback"] == 7
    # Both fused systems predict every test utterance; 7 of each fall back to BLSTMATT.
    per_system = result.predictions.group_by("system", maintain_order=True).agg(
        pl.len(), pl.col("fallback").sum())
    assert per_system.rows() == [(layout.SYSCOMB, 150, 7), ("SYSComb-w0.4", 150, 7)]
    csa_pairs = significance_of(run, result).filter(pl.col("system_b") == "CSA-C30")
    assert set(csa_pairs["n"]) == {150 - 7}


def test_csa_utterance_unknown_to_blstmatt_is_an_error():
    run = synthetic_run()
    extra = run.csa_test[30].with_columns(pl.lit("stray_utt").alias("utt_id")).head(1)
    with pytest.raises(ValueError, match="stray_utt"):
        pair_posteriors(run.blstmatt_test, pl.concat([run.csa_test[30], extra]), CLASSES, "test")


# ---- selection never reads the test set ----------------------------------------------------------


def test_weight_grid_is_inclusive():
    grid = FusionSettings.defaults().weight_grid()
    assert grid.size == 41 and grid[0] == 0.0 and grid[-1] == 2.0 and 0.4 in grid


def test_selection_is_made_on_validation_only():
    run = synthetic_run(seed=3)
    settings = FusionSettings.defaults()
    clean = fuse_run(run, CLASSES, settings).selection

    # Poison the test set so that other choices would look better on it: labels = what fusion at a
    # far-away weight with the *other* context decides (a perfect score for that choice), and the
    # other context's CSA test posteriors made perfect too.
    chosen_context = clean["context"][0]
    other = next(c for c in run.csa_test if c != chosen_context)
    pair = pair_posteriors(run.blstmatt_test, run.csa_test[other], CLASSES, "test")
    other_weight = 2.0 if clean["weight"][0] < 1.0 else 0.0
    poisoned_labels = fuse(pair.blstmatt_logp, pair.csa_logp, other_weight).argmax(1)
    poisoned_blstmatt = run.blstmatt_test.with_columns(
        pl.Series("label", [CLASSES[i] for i in poisoned_labels]))
    by_utt = dict(zip(run.blstmatt_test["utt_id"], poisoned_labels, strict=True))
    poisoned_csa = {}
    for context, table in run.csa_test.items():
        labels = np.array([by_utt[u] for u in table["utt_id"]])
        logits = np.full((table.height, len(CLASSES)), -20.0)
        logits[np.arange(table.height), labels] = 0.0
        poisoned_csa[context] = (prediction_table(table["utt_id"], labels, logits)
                                 if context == other else table.with_columns(
                                     pl.Series("label", [CLASSES[i] for i in labels])))
    poisoned = RunInputs(run.fold, run.seed, run.blstmatt_val, poisoned_blstmatt, run.csa_val,
                         poisoned_csa)
    result = fuse_run(poisoned, CLASSES, settings)
    assert result.selection.select("context", "weight").equals(clean.select("context", "weight"))
    # The poison works: selecting on the poisoned test set would choose differently.
    leaked = {c: pair_posteriors(poisoned_blstmatt, t, CLASSES, "test") for c, t in poisoned_csa.items()}
    leaked_selection, _ = select_fusion(leaked, settings, len(CLASSES))
    assert (leaked_selection.context, leaked_selection.weight) != (chosen_context, clean["weight"][0])

    # And select_fusion, which chooses, has no test argument at all.
    validation = {c: pair_posteriors(run.blstmatt_val, t, CLASSES, "val") for c, t in run.csa_val.items()}
    selection, curve = select_fusion(validation, settings, len(CLASSES))
    assert (selection.context, selection.weight) == (clean["context"][0], clean["weight"][0])
    chosen = curve.filter("chosen")
    assert chosen.height == 1 and chosen["val_ua"][0] == curve.filter(
        pl.col("context") == selection.context)["val_ua"].max()


def test_fixed_context_from_config_is_used():
    run = synthetic_run()
    result = fuse_run(run, CLASSES, FusionSettings.defaults(context=60))
    assert result.selection["context"][0] == 60
    assert result.selection["context_source"][0] == "config"


def significance_of(run: RunInputs, result: RunResult) -> pl.DataFrame:
    """The significance stage on one fused run: its test tables and fusion's rows."""
    selection = result.selection.row(0, named=True)
    context = selection["context"]
    predictions = RunPredictions(run.fold, run.seed, context, selection["paper_weight"],
                                 run.blstmatt_test, run.csa_test[context], result.predictions,
                                 run.others_test)
    return compare_run(predictions, CLASSES, EVALUATION)


# ---- significance --------------------------------------------------------------------------------


def test_mcnemar_exact_on_a_known_table():
    # 2x2 table: both right 30, only A right 10, only B right 2, both wrong 8.
    correct_a = np.array([1] * 30 + [1] * 10 + [0] * 2 + [0] * 8, dtype=bool)
    correct_b = np.array([1] * 30 + [0] * 10 + [1] * 2 + [0] * 8, dtype=bool)
    result = mcnemar_exact(correct_a, correct_b)
    # Exact two-sided binomial p: 2 * P(X <= 2 | n = 12, p = 1/2) = 2 * (1 + 12 + 66) / 4096.
    assert result.pvalue == pytest.approx(2 * 79 / 4096, rel=1e-12)
    assert result.statistic == 10 and result.n == 50
    assert result.effect_size == pytest.approx(10 / 12)
    assert result.ci_low < 10 / 12 < result.ci_high
    assert mcnemar_exact(correct_a, correct_a).pvalue == 1.0
    balanced = mcnemar_exact(np.array([1, 0, 1, 0], bool), np.array([0, 1, 0, 1], bool))
    assert balanced.pvalue == 1.0 and balanced.effect_size == 0.5


def test_paired_bootstrap_ci_covers_the_true_difference():
    # Two correlated classifiers with true accuracies 0.70 and 0.62: difference 0.08.
    rng = np.random.default_rng(7)
    n, draws, covered = 200, 200, 0
    for draw in range(draws):
        shared = rng.random(n)
        correct_a = shared < 0.70
        correct_b = np.where(rng.random(n) < 0.5, shared < 0.62, rng.random(n) < 0.62)
        true_b = 0.5 * 0.62 + 0.5 * 0.62
        result = paired_bootstrap_difference(
            lambda idx: correct_a[idx].mean(1) - correct_b[idx].mean(1), n, 400, seed=draw)
        covered += result.ci_low <= 0.70 - true_b <= result.ci_high
    assert covered / draws >= 0.9


def test_compare_identical_systems_has_no_difference():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 80)
    preds = np.where(rng.random(80) < 0.6, labels, rng.integers(0, 4, 80))
    row = compare_systems(labels, preds, preds, 4, EvaluationSettings.defaults(bootstrap=200))
    assert row["wa_diff"] == row["ua_diff"] == 0.0
    assert row["wa_diff_ci_low"] == row["wa_diff_ci_high"] == 0.0
    assert row["mcnemar_pvalue"] == 1.0 and row["mcnemar_only_a_correct"] == 0


def test_compare_systems_differences_match_the_point_scores():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, 300)
    good = np.where(rng.random(300) < 0.8, labels, rng.integers(0, 4, 300))
    bad = np.where(rng.random(300) < 0.3, labels, rng.integers(0, 4, 300))
    row = compare_systems(labels, good, bad, 4, EvaluationSettings.defaults(bootstrap=500))
    assert row["wa_diff"] == pytest.approx(row["wa_a"] - row["wa_b"])
    assert row["wa_diff"] == pytest.approx(np.mean(good == labels) - np.mean(bad == labels))
    assert row["wa_diff_ci_low"] > 0 and row["ua_diff_ci_low"] > 0
    assert row["mcnemar_pvalue"] < 1e-6 and row["wa_diff_pvalue"] < 0.01


# ---- the stage outputs and Table 1 ---------------------------------------------------------------


def write_run(root, run: RunInputs) -> dict:
    """``run``'s prediction tables as training run folders; the fusion rule's ``runs`` entry."""
    folders = {"blstmatt": (run.blstmatt_val, run.blstmatt_test),
               **{f"csa_C{c}": (run.csa_val[c], run.csa_test[c]) for c in run.csa_val}}
    for name, (val, test) in folders.items():
        (root / name).mkdir(parents=True)
        val.write_parquet(root / name / layout.RUN_FILES["val_predictions"])
        test.write_parquet(root / name / layout.RUN_FILES["predictions"])
    return {"fold": run.fold, "seed": run.seed, "blstmatt_dir": root / "blstmatt",
            "csa_dirs": {c: root / f"csa_C{c}" for c in run.csa_val}, "others": {}}


def test_fusion_and_significance_stages_write_their_tables(tmp_path):
    runs = [synthetic_run(seed=seed) for seed in (1, 2)]
    outputs = FusionOutputs(**{name: tmp_path / f"{name}.out"
                               for name in FusionOutputs.__dataclass_fields__})
    assert set(FusionOutputs.__dataclass_fields__) == set(layout.FUSION_OUTPUTS)
    selection = run_fusion(runs, CLASSES, FusionSettings.defaults(), outputs)
    assert selection.height == 2 and set(selection["context_source"]) == {"validation"}
    curve = pl.read_parquet(outputs.weight_curve)
    assert curve.height == 2 * 2 * 41 and curve.filter("chosen").height == 2
    predictions = pl.read_parquet(outputs.predictions)
    assert predictions.height == 2 * 2 * 150  # 2 runs x 2 fused systems x 150 utterances
    assert set(predictions["system"]) == {layout.SYSCOMB, layout.syscomb_weight_system(0.4)}
    paper = predictions.filter(pl.col("system") == "SYSComb-w0.4")
    assert set(paper["weight"]) == {0.4}
    chart = json.loads(outputs.weight_curve_chart.read_text())
    assert len(chart["layer"]) == 3

    # The significance stage reads those files and the runs' test predictions.
    params = [write_run(tmp_path / f"seed{run.seed}", run) for run in runs]
    significance_files = {role: tmp_path / "significance" / path
                          for role, path in layout.SIGNIFICANCE_OUTPUTS.items()}
    pairs = run_significance(params, CLASSES, outputs.selection, outputs.predictions,
                             EvaluationSettings.defaults(bootstrap=100), significance_files)
    assert pairs.height == 2 * 5 and pairs["mcnemar_qvalue"].is_not_null().all()
    assert pairs.equals(pl.read_parquet(significance_files["pairs"]))
    summary = pl.read_parquet(significance_files["summary"])
    assert summary.height == 5 and summary["n_runs"].to_list() == [2] * 5
    seeds = pl.read_parquet(significance_files["seeds"])  # one fold per seed: the runs themselves
    assert seeds.height == 2 * 5 and set(seeds["n_folds"]) == {1}
    assert seeds.drop("n_folds").equals(pairs.drop("fold"))
    # SYSComb is compared as fusion wrote it: its McNemar counts follow from the stored decisions.
    for run in runs:
        fused = predictions.filter((pl.col("seed") == run.seed) & (pl.col("system") == layout.SYSCOMB))
        blstmatt = run.blstmatt_test.join(fused.select("utt_id", pl.col("pred").alias("fused")), on="utt_id")
        row = pairs.filter((pl.col("seed") == run.seed) & (pl.col("system_a") == layout.SYSCOMB)
                           & (pl.col("system_b") == layout.BLSTMATT)).row(0, named=True)
        only_fused = ((blstmatt["fused"] == blstmatt["label"]) & (blstmatt["pred"] != blstmatt["label"])).sum()
        assert row["mcnemar_only_a_correct"] == only_fused


def test_seed_pooled_significance_adds_up_the_folds(tmp_path):
    # Two folds of one seed whose CSA contexts differ: pooled, each pair is tested on both folds'
    # utterances at once, so decisions (n, McNemar's discordant counts) add up over the folds.
    runs = [replace(synthetic_run(seed=index, contexts=(context,), left_out={context: left_out}),
                    fold=f"fold{index}", seed=7)
            for index, context, left_out in ((1, 30, 5), (2, 60, 20))]
    outputs = FusionOutputs(**{name: tmp_path / f"{name}.out" for name in FusionOutputs.__dataclass_fields__})
    run_fusion(runs, CLASSES, FusionSettings.defaults(), outputs)
    params = [write_run(tmp_path / run.fold, run) for run in runs]
    files = {role: tmp_path / "significance" / path for role, path in layout.SIGNIFICANCE_OUTPUTS.items()}
    pairs = run_significance(params, CLASSES, outputs.selection, outputs.predictions,
                             EvaluationSettings.defaults(bootstrap=100), files)
    seeds = pl.read_parquet(files["seeds"])
    assert seeds.height == 5 and seeds["seed"].to_list() == [7] * 5 and seeds["n_folds"].to_list() == [2] * 5
    assert seeds["system_a"][0] == "CSA-C30/CSA-C60"  # the context chosen per fold, both named
    per_pair = pairs.with_columns(pl.int_range(pl.len()).over("fold").alias("pair")).group_by(
        "pair", maintain_order=True).agg(pl.col("n", "mcnemar_only_a_correct", "mcnemar_only_b_correct").sum())
    for column in ("n", "mcnemar_only_a_correct", "mcnemar_only_b_correct"):
        assert seeds[column].to_list() == per_pair[column].to_list()
    # Pooled WA is the decision-weighted mean of the folds' WA, not their plain mean: CSA (pair 0)
    # left out 5 utterances of fold 1 and 20 of fold 2.
    csa = pairs.filter(pl.col("system_b") == layout.BLSTMATT).group_by("fold", maintain_order=True).first()
    assert csa["n"].to_list() == [145, 130]
    assert seeds["wa_a"][0] == pytest.approx((csa["wa_a"] * csa["n"]).sum() / csa["n"].sum())


# ---- end to end on the tiny config (shares the session's tiny_run; its cost is the pipeline's) ---


@pytest.mark.slow
def test_tiny_run_sweep_and_fusion_agree_with_training(tiny_run):
    results = tiny_run / "results"
    sweep = pl.read_parquet(results / layout.SWEEP_OUTPUTS["sweep"])
    selection = pl.read_parquet(results / "fusion" / "selection.parquet")
    table1 = pl.read_parquet(results / layout.TABLE1_OUTPUTS["table"])
    for run in selection.iter_rows(named=True):
        blstmatt = pl.read_parquet(layout.run_file("predictions", "blstmatt", run["fold"], run["seed"],
                                                    root=str(results)))
        swept = sweep.filter((pl.col("context") == run["context"]) & (pl.col("fold") == run["fold"])
                             & (pl.col("seed") == run["seed"])).row(0, named=True)
        # Every BLSTMATT test utterance is either kept by CSA or falls back (and CSA left it out).
        assert run["n_test"] == blstmatt.height
        assert run["n_test_fallback"] == swept["n_test_left_out"]
        assert swept["n_test_kept"] + swept["n_test_left_out"] == blstmatt.height
    paper_systems = layout.paper_systems(sorted(set(sweep["context"])), 0.4)
    assert table1["system"].to_list()[:len(paper_systems)] == paper_systems  # then any baselines
    assert (results / layout.TABLE1_OUTPUTS["html"]).is_file()


def with_other(run: RunInputs, seed=7, signal=2.0) -> RunInputs:
    """``run`` plus a further system (a baseline) that predicts every utterance of both splits."""
    rng = np.random.default_rng(seed)
    tables = {}
    for split, blstmatt in (("val", run.blstmatt_val), ("test", run.blstmatt_test)):
        labels = np.array([CLASSES.index(label) for label in blstmatt["label"]])
        tables[split] = prediction_table(blstmatt["utt_id"], labels, noisy_logits(rng, labels, signal))
    return RunInputs(run.fold, run.seed, run.blstmatt_val, run.blstmatt_test, run.csa_val,
                     run.csa_test, {"eGeMAPS-SVM": tables["val"]}, {"eGeMAPS-SVM": tables["test"]})


def test_a_further_system_is_fused_onto_syscomb_with_its_weight_from_validation():
    settings = FusionSettings.defaults(systems=("eGeMAPS-SVM",))
    run = with_other(synthetic_run(seed=3))
    result = fuse_run(run, CLASSES, settings)
    combined = result.predictions.filter(pl.col("system") == "SYSComb+eGeMAPS-SVM")
    assert combined.height == 150 and combined["weight"].n_unique() == 1
    weight = combined["weight"][0]
    assert weight > 0  # a strong extra system earns a weight on validation
    pairs = significance_of(run, result).select("system_a", "system_b").rows()
    csa = pairs[0][0]
    assert pairs[-6:] == [("eGeMAPS-SVM", "BLSTMATT"), ("eGeMAPS-SVM", csa), ("eGeMAPS-SVM", "SYSComb"),
                          ("SYSComb+eGeMAPS-SVM", "BLSTMATT"), ("SYSComb+eGeMAPS-SVM", "SYSComb"),
                          ("SYSComb+eGeMAPS-SVM", "eGeMAPS-SVM")]

    # Its weight never looks at test data: scrambling its test posteriors changes no weight.
    scrambled = run.others_test["eGeMAPS-SVM"].with_columns(
        pl.col(f"logp_{name}").shuffle(seed=1) for name in CLASSES)
    poisoned = RunInputs(run.fold, run.seed, run.blstmatt_val, run.blstmatt_test, run.csa_val,
                         run.csa_test, run.others_val, {"eGeMAPS-SVM": scrambled})
    again = fuse_run(poisoned, CLASSES, settings).predictions
    assert again.filter(pl.col("system") == "SYSComb+eGeMAPS-SVM")["weight"][0] == weight


def test_fusion_systems_plan_scoring_and_name_unknown_systems(tmp_path):
    """A dry run: fusion.systems adds SYSComb+<system> to the score and table1 stages; a name that
    is not a system of the config stops with the systems it could have been."""
    planned = run_snakemake(tmp_path, "-n", "table1",
                            config={"fusion": '{"systems": ["eGeMAPS-SVM"]}'}).stdout
    assert "system=SYSComb+eGeMAPS-SVM" in planned
    failed = run_snakemake(tmp_path, "-n", "table1", check=False,
                           config={"fusion": '{"systems": ["eGeMAPS-RF"]}'})
    assert failed.returncode != 0
    assert "fusion.systems: 'eGeMAPS-RF' is not a system of this config" in failed.stderr + failed.stdout


def test_a_baseline_not_in_fusion_systems_is_compared_but_not_fused():
    run = with_other(synthetic_run(seed=4))
    result = fuse_run(run, CLASSES, FusionSettings.defaults())
    assert set(result.predictions["system"]) == {"SYSComb", "SYSComb-w0.4"}
    baseline_pairs = significance_of(run, result).filter(pl.col("system_a") == "eGeMAPS-SVM")
    assert baseline_pairs["system_b"].to_list()[::2] == ["BLSTMATT", "SYSComb"]
    assert baseline_pairs["utterances"].to_list() == ["all_test", "csa_kept", "all_test"]
    with pytest.raises(ValueError, match=r"fusion.systems \['eGeMAPS-LR'\] have no predictions"):
        fuse_run(with_other(synthetic_run(seed=4)), CLASSES, FusionSettings.defaults(systems=("eGeMAPS-LR",)))
