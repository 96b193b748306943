"""Which interpretation method finds the truth? Verdicts per method, and the planted-cue validation.

Two jobs per corpus (rules/validation.smk) and the validation target on top:

* :func:`interpret_run` — one trained run (BLSTMATT, or CSA at one context): Integrated Gradients
  per frame (``emocue.attributions``), vowel/consonant deletion with every filler and the deletion
  curve (``emocue.causal``).
* :func:`interpret_corpus` — pools the runs of every seed and fold and turns each method into one
  verdict (``vowel``, ``consonant`` or ``none`` at level α) with an effect, a 95 % CI and a p-value.
  Per utterance, the seeds' models are averaged first (their attention curves, IG curves,
  deletion effects), so the unit of every test is the test utterance, never a (model, utterance)
  pair. Sign convention: **effect > 0 means vowels matter more** for every method.

  =============================  ================================================================
  method                          test (all test utterances)
  =============================  ================================================================
  ``attention_paired``            attention stage test 1, raw: paired Wilcoxon of mean a on vowels
                                  vs consonants; effect = rank-biserial r
  ``attention_circular_adjusted`` attention stage test 2 on position-adjusted attention, two-sided;
                                  effect = mean vowel − consonant a
  ``integrated_gradients``        the same circular-shift test on IG curves (|ig_t| normalised)
  ``deletion``                    paired Wilcoxon of the damage −Δ log p(y) from deleting vowels vs
                                  an equal number of consonants (filler ``zeros``); effect = mean
                                  damage difference (nats). A class is named only if, in addition,
                                  deleting it hurts on its own (one-sample Wilcoxon of its damage,
                                  p < α, mean > 0): a deletion that *raises* the true-class
                                  posterior is no evidence that the class carries the emotion.
  ``attention_controlled``        vowel coefficient of the cluster-robust regression of a_t on phone
                                  class + acoustic covariates (``emocue.confounds``)
  =============================  ================================================================

* The validation target generates one demo config per planted cue (:func:`validation_config`),
  runs the workflow on it in ``results/validation/<cue>/`` and stacks the verdicts into
  ``results/validation/summary.parquet`` (:func:`validation_summary`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from emocue import attention, stats
from emocue.attention import AttentionSettings
from emocue.attributions import (BASELINE, agreement_summary, as_curves, attention_agreement,
                                 integrated_gradients)
from emocue.causal import (DEFAULT_FILLER, DeletionSettings, class_deletion, curve_summary,
                           deletion_curve, frame_class_codes, select_test_utterances, write_table)
from emocue.confounds import cluster_robust_ols, coefficient_table, speech_frames

log = logging.getLogger(__name__)

METHODS = ("attention_paired", "attention_circular_adjusted", "deletion", "integrated_gradients",
           "attention_controlled")
VERDICTS = ("vowel", "consonant", "none")
RUN_OUTPUTS = ("integrated_gradients", "deletion", "deletion_curve")
CORPUS_OUTPUTS = ("verdicts", "deletion_tests", "deletion_curve", "ig_tests", "agreement", "confounds")
VERDICT_SCHEMA = {
    "method": pl.String, "verdict": pl.String, "effect": pl.Float64, "ci_low": pl.Float64,
    "ci_high": pl.Float64, "pvalue": pl.Float64, "n": pl.Int64, "accuracy": pl.Float64,
    "effect_name": pl.String, "model": pl.String,
}


@dataclass(frozen=True)
class InterpretSettings:
    deletion: DeletionSettings
    ig_steps: int
    tests: AttentionSettings  # bootstrap, α, seed, rotations: the attention stage's own settings

    @classmethod
    def from_config(cls, config: dict) -> InterpretSettings:
        section = config["validation"]
        tests = AttentionSettings.from_config(config["attention"])
        return cls(DeletionSettings.from_config(section, tests.seed), int(section["ig_steps"]), tests)


def verdict(effect: float, pvalue: float, alpha: float) -> str:
    """``vowel`` (effect > 0) or ``consonant`` (effect < 0) when p < α, else ``none``."""
    if not (np.isfinite(pvalue) and pvalue < alpha and np.isfinite(effect) and effect != 0):
        return "none"
    return "vowel" if effect > 0 else "consonant"


# ---- one run ------------------------------------------------------------------------------------
def interpret_run(model_path: str, predictions_path: str, attention_path: str | None,
                  manifests: Sequence[str], features: Sequence[str], feature_stats: Sequence[str],
                  intervals: Sequence[str], settings: InterpretSettings, outputs: dict[str, str]) -> None:
    """IG, class deletion and the deletion curve of one trained run on its test utterances."""
    import torch

    from emocue.models import load_trained
    from emocue.train import load_utterances

    torch.set_num_threads(1)
    trained = load_trained(model_path, device="cpu")
    predictions = pl.read_parquet(predictions_path)
    alignment = pl.concat([pl.read_parquet(p) for p in intervals], how="diagonal_relaxed")
    wanted = set(predictions["utt_id"].to_list())
    tables, matrices = [], {}
    for manifest, feature_file, stats_file in zip(manifests, features, feature_stats, strict=True):
        if pl.read_parquet(manifest, columns=["utt_id"])["utt_id"].is_in(list(wanted)).any():
            table, session_matrices = load_utterances([manifest], [feature_file], [stats_file],
                                                      trained.classes, trained.normalisation)
            tables.append(table)
            matrices.update({u: m for u, m in session_matrices.items() if u in wanted})
    utterances = select_test_utterances(pl.concat(tables), matrices, predictions, alignment, trained.classes)
    if trained.context is not None:  # CSA scores only utterances with at least one chunk
        utterances = utterances.subset([i for i, x in enumerate(utterances.feats) if len(x) >= trained.context])
    score = trained.utterance_log_posteriors
    ig = integrated_gradients(score, utterances, settings.ig_steps)
    position = {u: i for i, u in enumerate(utterances.utt_ids)}
    rankings = {"integrated_gradients": curve_arrays(ig.rename({"attribution": "score"}).with_columns(
        pl.col("score").abs()), position)}
    if attention_path is not None:
        rankings["attention"] = curve_arrays(
            pl.read_parquet(attention_path).rename({"weight": "score"}), position)
    log.info("%s: %d test utterances, IG (%d steps, baseline %s), deletion, curve", model_path,
             len(utterances), settings.ig_steps, BASELINE)
    write_table(ig, outputs["integrated_gradients"])
    write_table(class_deletion(score, utterances, settings.deletion), outputs["deletion"])
    write_table(deletion_curve(score, utterances, rankings, settings.deletion), outputs["deletion_curve"])


def curve_arrays(table: pl.DataFrame, position: dict[str, int]) -> list[np.ndarray]:
    """Per utterance (in ``position`` order) the (T,) ``score`` column of a per-frame table."""
    arrays: list[np.ndarray | None] = [None] * len(position)
    for (utt_id,), group in table.sort("utt_id", "frame").group_by("utt_id", maintain_order=True):
        if utt_id in position:
            arrays[position[utt_id]] = group["score"].to_numpy().astype(np.float64)
    return arrays


# ---- pooling seeds ------------------------------------------------------------------------------
def mean_curves(tables: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Per (utt_id, frame) the mean ``weight`` over runs (each run's weights sum to 1 per utterance,
    so the mean does too), with the utterance's fold."""
    return pl.concat([t.select("utt_id", "frame", "weight", "fold") for t in tables]).group_by(
        "utt_id", "frame").agg(pl.col("weight").mean(), pl.col("fold").first()).sort("utt_id", "frame")


def mean_predictions(tables: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Per test utterance the mean log-posteriors over runs and the class they pick."""
    joined = pl.concat(tables, how="diagonal_relaxed")
    logp = [c for c in joined.columns if c.startswith("logp_")]
    mean = joined.group_by("utt_id").agg(pl.col("label").first(), pl.col("fold").first(),
                                         *(pl.col(c).mean() for c in logp),
                                         pl.col("correct").mean().alias("accuracy"))
    best = pl.concat_list(logp).list.arg_max()
    names = [c.removeprefix("logp_") for c in logp]
    return mean.with_columns(pred=best.replace_strict(dict(enumerate(names)), return_dtype=pl.String)).sort("utt_id")


def with_correct(predictions: pl.DataFrame) -> pl.DataFrame:
    return predictions.with_columns((pl.col("label") == pl.col("pred")).alias("correct"))


def stage_test(tests: pl.DataFrame, test: str, variant: str, alternative: str) -> dict:
    row = tests.filter(pl.col("test") == test, pl.col("variant") == variant, pl.col("group_type") == "all",
                       pl.col("alternative") == alternative)
    return row.row(0, named=True)


def verdict_row(method: str, result: dict, alpha: float, accuracy: float, model: str = "BLSTMATT",
                decided: str | None = None) -> dict:
    return {"method": method, "verdict": decided or verdict(result["effect_size"], result["pvalue"], alpha),
            "effect": result["effect_size"], "ci_low": result["ci_low"], "ci_high": result["ci_high"],
            "pvalue": result["pvalue"], "n": int(result["n"]), "accuracy": accuracy,
            "effect_name": result["effect_size_name"], "model": model}


# ---- deletion tests ------------------------------------------------------------------------------
def deletion_test(damage_vowel: np.ndarray, damage_consonant: np.ndarray, settings: AttentionSettings,
                  key: str) -> tuple[stats.TestResult, str]:
    """Paired test of the damage (−Δ log p(y)) of deleting vowels vs consonants, and its verdict.

    p: paired Wilcoxon signed-rank; effect: mean damage difference (vowel − consonant) with a
    bootstrap CI over utterances. The verdict names a class only when its own damage is also
    significantly positive (module docstring)."""
    damage_vowel, damage_consonant = np.asarray(damage_vowel, float), np.asarray(damage_consonant, float)
    difference = damage_vowel - damage_consonant
    paired = stats.paired_wilcoxon(damage_vowel, damage_consonant, 1, settings.seed_for("deletion", key))
    if not np.isfinite(paired.pvalue):
        return stats.TestResult.undefined("deletion_paired_wilcoxon", "mean_damage_vowel_minus_consonant",
                                          paired.n), "none"
    ci_low, ci_high = stats.bootstrap_ci(lambda idx: difference[idx].mean(axis=1), difference.size,
                                         settings.n_bootstrap, settings.seed_for("deletion_ci", key))
    result = stats.TestResult("deletion_paired_wilcoxon", paired.statistic, paired.pvalue,
                              float(difference.mean()), "mean_damage_vowel_minus_consonant",
                              ci_low, ci_high, paired.n)
    decided = verdict(result.effect_size, result.pvalue, settings.alpha)
    if decided != "none":
        own = damage_vowel if decided == "vowel" else damage_consonant
        alone = stats.one_sample_wilcoxon(own, 0.0, 1, settings.seed_for("deletion_own", key))
        if not (alone.pvalue < settings.alpha and own.mean() > 0):
            decided = "none"
    return result, decided


def deletion_tests(deletion: pl.DataFrame, settings: AttentionSettings) -> pl.DataFrame:
    """Per model, filler and group (all, each emotion): the deletion test and accuracies.

    ``deletion`` has one row per (run, utterance, filler); the runs of one model are averaged per
    utterance first."""
    per_utt = deletion.group_by("model", "filler", "utt_id", "emotion").agg(
        (-pl.col("delta_vowel")).mean().alias("damage_vowel"),
        (-pl.col("delta_consonant")).mean().alias("damage_consonant"),
        pl.col("correct").cast(pl.Float64).mean().alias("accuracy"),
        pl.col("correct_vowel_deleted").mean().alias("accuracy_vowel_deleted"),
        pl.col("correct_consonant_deleted").mean().alias("accuracy_consonant_deleted"),
    ).sort("model", "filler", "utt_id")
    rows = []
    for (model, filler), part in per_utt.group_by("model", "filler", maintain_order=True):
        groups = [("all", "all", part)] + [("emotion", str(k[0]), g)
                                           for k, g in part.group_by("emotion", maintain_order=True)]
        for group_type, group, rows_of in groups:
            result, decided = deletion_test(rows_of["damage_vowel"].to_numpy(), rows_of["damage_consonant"].to_numpy(),
                                            settings, f"{model}/{filler}/{group_type}/{group}")
            rows.append({"model": model, "filler": filler, "group_type": group_type, "group": group,
                         **result.as_row(), "verdict": decided,
                         "mean_damage_vowel": float(rows_of["damage_vowel"].mean()),
                         "mean_damage_consonant": float(rows_of["damage_consonant"].mean()),
                         **{c: float(rows_of[c].mean()) for c in
                            ("accuracy", "accuracy_vowel_deleted", "accuracy_consonant_deleted")}})
    return pl.DataFrame(rows)


# ---- the corpus job -----------------------------------------------------------------------------
@dataclass(frozen=True)
class RunTables:
    """The interpret_run outputs of one run, with what identifies it."""

    model: str  # system name: BLSTMATT or CSA-C<context>
    fold: str
    seed: int
    integrated_gradients: str
    deletion: str
    deletion_curve: str


def read_runs(runs: Sequence[RunTables], name: str) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(getattr(run, name)).with_columns(
        pl.lit(run.model).alias("model"), pl.lit(run.fold).alias("fold"), pl.lit(run.seed).alias("seed"))
        for run in runs], how="diagonal_relaxed")


def interpret_corpus(blstmatt_runs: Sequence[RunTables], csa_runs: Sequence[RunTables],
                     attention_paths: Sequence[str], prediction_paths: Sequence[str],
                     run_keys: Sequence[tuple[str, int]], selection_path: str | None,
                     manifests: Sequence[str], intervals: Sequence[str], covariates: Sequence[str],
                     settings: InterpretSettings, outputs: dict[str, str]) -> pl.DataFrame:
    """Every method's verdict on one corpus (BLSTMATT, and CSA at its chosen context for deletion).

    ``attention_paths``/``prediction_paths`` are BLSTMATT's, one per (fold, seed) in ``run_keys``.
    """
    tests = settings.tests
    alpha = tests.alpha
    manifest = pl.concat([pl.read_parquet(p) for p in manifests], how="diagonal_relaxed")
    alignment = pl.concat([pl.read_parquet(p) for p in intervals], how="diagonal_relaxed")
    curves = [pl.read_parquet(p).with_columns(pl.lit(fold).alias("fold"))
              for p, (fold, _) in zip(attention_paths, run_keys, strict=True)]
    predictions = [with_correct(pl.read_parquet(p)).with_columns(pl.lit(fold).alias("fold"))
                   for p, (fold, _) in zip(prediction_paths, run_keys, strict=True)]
    pooled_predictions = mean_predictions(predictions)
    accuracy = float(pl.concat([p.select("correct") for p in predictions])["correct"].mean())
    attention_curves = mean_curves(curves)
    stage = attention.analyse(attention_curves, pooled_predictions, manifest, alignment, tests)
    rows = [
        verdict_row("attention_paired", stage_test(stage.tests, "vowel_vs_consonant", "raw", "two-sided"),
                    alpha, accuracy),
        verdict_row("attention_circular_adjusted",
                    stage_test(stage.tests, "circular_shift", "position_adjusted", "two-sided"), alpha, accuracy),
    ]
    # Integrated Gradients, as attention-like curves, through the same tests
    ig = read_runs(blstmatt_runs, "integrated_gradients")
    ig_curves = mean_curves([as_curves(part) for _, part in ig.group_by("seed", "fold", maintain_order=True)])
    ig_stage = attention.analyse(ig_curves, pooled_predictions, manifest, alignment, tests)
    rows.append(verdict_row("integrated_gradients",
                            stage_test(ig_stage.tests, "circular_shift", "position_adjusted", "two-sided"),
                            alpha, accuracy))
    # Deletion: BLSTMATT and CSA at the context chosen on validation
    deletion = read_runs(blstmatt_runs, "deletion")
    curve = read_runs(blstmatt_runs, "deletion_curve")
    if csa_runs:
        chosen = chosen_csa_runs(csa_runs, selection_path)
        deletion = pl.concat([deletion, read_runs(chosen, "deletion").with_columns(pl.lit("CSA").alias("model"))],
                             how="diagonal_relaxed")
        curve = pl.concat([curve, read_runs(chosen, "deletion_curve").with_columns(pl.lit("CSA").alias("model"))],
                          how="diagonal_relaxed")
    deletion_table = deletion_tests(deletion, tests)
    main = deletion_table.filter(pl.col("model") == "BLSTMATT", pl.col("filler") == DEFAULT_FILLER,
                                 pl.col("group_type") == "all").row(0, named=True)
    rows.append(verdict_row("deletion", main, alpha, accuracy, decided=main["verdict"]))
    # Acoustic controls: the regression of seed-mean normalised attention (and IG)
    covariate_table = pl.concat([pl.read_parquet(p) for p in covariates])
    confounds = []
    for source, table in (("attention", attention_curves), ("integrated_gradients", ig_curves)):
        confounds.append(coefficient_table(cluster_robust_ols(
            speech_frames(normalised_values(table), class_table(table, alignment), covariate_table)
        )).with_columns(pl.lit(source).alias("source")))
    confounds = pl.concat(confounds)
    vowel = confounds.filter(pl.col("source") == "attention", pl.col("model") == "with_controls",
                             pl.col("term") == "vowel").row(0, named=True)
    rows.append({"method": "attention_controlled", "verdict": verdict(vowel["estimate"], vowel["pvalue"], alpha),
                 "effect": vowel["estimate"], "ci_low": vowel["ci_low"], "ci_high": vowel["ci_high"],
                 "pvalue": vowel["pvalue"], "n": vowel["n_utterances"], "accuracy": accuracy,
                 "effect_name": "vowel_coefficient_with_controls", "model": "BLSTMATT"})
    verdicts = pl.DataFrame(sorted(rows, key=lambda row: METHODS.index(row["method"])), schema=VERDICT_SCHEMA)
    per_seed_agreement = pl.concat([
        attention_agreement(curves_of_seed, ig.filter(pl.col("seed") == seed, pl.col("fold") == fold))
        .with_columns(pl.lit(seed).alias("seed"), pl.lit(fold).alias("fold"))
        for curves_of_seed, (fold, seed) in zip(curves, run_keys)
    ])
    agreement = agreement_summary(per_seed_agreement.group_by("utt_id").agg(pl.col("spearman").mean()),
                                  tests.n_bootstrap, tests.seed_for("agreement"))
    write_table(verdicts, outputs["verdicts"])
    write_table(deletion_table, outputs["deletion_tests"])
    write_table(curve_summary(curve), outputs["deletion_curve"])
    write_table(ig_stage.tests, outputs["ig_tests"])
    write_table(per_seed_agreement.with_columns(pl.lit(agreement.effect_size).alias("mean_spearman"),
                                                pl.lit(agreement.ci_low).alias("mean_spearman_ci_low"),
                                                pl.lit(agreement.ci_high).alias("mean_spearman_ci_high")),
                outputs["agreement"])
    write_table(confounds, outputs["confounds"])
    return verdicts


def chosen_csa_runs(csa_runs: Sequence[RunTables], selection_path: str | None) -> list[RunTables]:
    """The CSA run of each (fold, seed) at the context fusion chose on validation."""
    if selection_path is None:
        raise ValueError("CSA deletion needs results/fusion/selection.parquet (the chosen context)")
    selection = pl.read_parquet(selection_path)
    chosen = {(f, int(s)): f"CSA-C{int(c)}" for f, s, c in selection.select("fold", "seed", "context").iter_rows()}
    return [run for run in csa_runs if chosen.get((run.fold, run.seed)) == run.model]


def normalised_values(curves: pl.DataFrame) -> pl.DataFrame:
    """(utt_id, frame, value) with value = a_t = weight · T."""
    return curves.select("utt_id", "frame", (pl.col("weight") * pl.len().over("utt_id")).alias("value"))


def class_table(curves: pl.DataFrame, alignment: pl.DataFrame) -> pl.DataFrame:
    """(utt_id, frame, class_code) for every frame of the curves' utterances."""
    lengths = curves.group_by("utt_id", maintain_order=True).agg(pl.len().alias("T")).sort("utt_id")
    utt_ids, counts = lengths["utt_id"].to_list(), lengths["T"].to_list()
    codes = frame_class_codes(utt_ids, counts, alignment)
    return pl.DataFrame({"utt_id": np.repeat(utt_ids, counts),
                         "frame": np.concatenate([np.arange(n) for n in counts]).astype(np.int32),
                         "class_code": np.concatenate(codes).astype(np.int8)})


# ---- the validation target ----------------------------------------------------------------------
def validation_config(base_config_path: str | Path, cue: str, validation: dict, attention_section: dict) -> dict:
    """The demo config of one planted-cue corpus: the shipped demo defaults, ``demo.cue`` and the
    validation seeds (everything relative to the corpus's own folder)."""
    config = yaml.safe_load(Path(base_config_path).read_text())
    if config.get("corpus", {}).get("type", "demo") != "demo":
        raise ValueError(f"{base_config_path}: validation.base_config must be a demo config (corpus.type: demo), "
                         f"got corpus.type {config['corpus']['type']!r}")
    config.setdefault("demo", {})["cue"] = cue
    config.setdefault("train", {})
    config["train"]["seeds"] = list(validation["seeds"])
    config["validation"] = {**validation, "base_config": None, "report": False}
    config["attention"] = dict(attention_section)
    return config


def write_config(config: dict, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(config, sort_keys=False))


def validation_summary(verdict_paths: dict[str, str]) -> pl.DataFrame:
    """One row per (planted cue, method): the stacked verdicts of every cue's corpus."""
    parts = [pl.read_parquet(path).with_columns(pl.lit(cue).alias("cue")) for cue, path in verdict_paths.items()]
    columns = ["cue", "method", "verdict", "effect", "ci_low", "ci_high", "pvalue", "n", "accuracy",
               "effect_name", "model"]
    return pl.concat(parts).select(columns)


def run_corpus_workflow(snakefile: str, workdir: str, config_path: str, cores: int, log_file: str) -> None:
    """Run the workflow (target ``interpret``) in ``workdir`` with ``config_path``; its output goes to
    ``log_file``. Reruns only what is missing or changed there, like any Snakemake run."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "snakemake", "--snakefile", str(Path(snakefile).resolve()),
               "--directory", str(Path(workdir).resolve()), "--configfile", str(Path(config_path).resolve()),
               "--cores", str(cores), "--rerun-incomplete", "interpret"]
    log.info("running %s", " ".join(command))
    with open(log_file, "a") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the planted-cue workflow in {workdir} failed (exit {done.returncode}); "
                           f"see {log_file} and the logs under {workdir}/results/logs")
