"""Significance of system differences (stage ``significance``, rule ``compare_systems``).

Per (fold, seed), for each pair of systems (:func:`system_pairs`) on the test utterances both
decided: the WA and UA differences with paired-bootstrap CIs and McNemar's exact test on
correct/incorrect decisions (see :mod:`emocue.stats`); McNemar p-values get Benjamini–Hochberg
q-values within the run. The same comparisons per seed with every fold's test utterances pooled
(leave-one-out schemes: each utterance once), where a fold of a few dozen utterances is too small
for a test to find much. The systems are BLSTMATT, the CSA context fusion selected on validation,
the fused systems exactly as the fusion stage wrote them (its predictions table: SYSComb,
SYSComb-w<paper weight>, SYSComb+<system>) and the baselines.

Only test predictions are read, and resamples and confidence come from the ``evaluation`` section
(as for every CI), so changing ``evaluation`` reruns this stage, the scorer and what reads them —
never fusion, whose choices use validation alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from emocue import layout, metrics
from emocue.fusion import TEST_PREDICTIONS, ScoredSystem, pair_posteriors
from emocue.scoring import EvaluationSettings, point_score, read_predictions
from emocue.stats import benjamini_hochberg, mcnemar_exact, paired_bootstrap_difference

INT32_COLUMNS = ("seed", "n_folds", "n", "mcnemar_only_a_correct", "mcnemar_only_b_correct")


# ---- one pair of systems -----------------------------------------------------------------------


def _resampled_score(labels: np.ndarray, preds: np.ndarray, n_classes: int, indices: np.ndarray,
                     metric: str) -> np.ndarray:
    """WA or UA on each resample: ``indices`` (R, n) -> (R,)."""
    confusions = metrics.batched_confusions(labels, preds, n_classes, indices)  # (R, K, K)
    return metrics.SUMMARY_METRICS[metric](confusions)


def compare_systems(labels: np.ndarray, preds_a: np.ndarray, preds_b: np.ndarray,
                    n_classes: int, evaluation: EvaluationSettings) -> dict:
    """WA/UA differences (A − B) with paired-bootstrap CIs, and McNemar's exact test."""
    row = {"n": int(labels.size)}
    for name in ("wa", "ua"):
        def difference(indices: np.ndarray, name: str = name) -> np.ndarray:
            return (_resampled_score(labels, preds_a, n_classes, indices, name)
                    - _resampled_score(labels, preds_b, n_classes, indices, name))

        row[f"{name}_a"] = point_score(labels, preds_a, n_classes, name)
        row[f"{name}_b"] = point_score(labels, preds_b, n_classes, name)
        # Same seed for WA and UA: both differences come from the same resamples.
        result = paired_bootstrap_difference(difference, labels.size, evaluation.bootstrap,
                                             evaluation.seed, evaluation.confidence,
                                             name=f"paired_bootstrap_{name}_difference")
        row[f"{name}_diff"] = result.statistic
        row[f"{name}_diff_ci_low"], row[f"{name}_diff_ci_high"] = result.ci_low, result.ci_high
        row[f"{name}_diff_pvalue"] = result.pvalue
    mcnemar = mcnemar_exact(preds_a == labels, preds_b == labels)
    row["mcnemar_only_a_correct"] = int(mcnemar.statistic)
    row["mcnemar_only_b_correct"] = int(((preds_a != labels) & (preds_b == labels)).sum())
    row["mcnemar_pvalue"] = mcnemar.pvalue
    return row


# ---- the systems of one (fold, seed) -----------------------------------------------------------


@dataclass(frozen=True)
class RunPredictions:
    """Test predictions of one (fold, seed): BLSTMATT, the selected CSA context, the fusion stage's
    rows for this run and each baseline (by system name)."""

    fold: str
    seed: int
    context: int  # the CSA context fusion selected on validation
    paper_weight: float
    blstmatt: pl.DataFrame
    csa: pl.DataFrame
    fused: pl.DataFrame
    others: Mapping[str, pl.DataFrame]


def run_systems(run: RunPredictions, classes: list[str]) -> tuple[np.ndarray, list[ScoredSystem]]:
    """The test labels and the systems compared, each aligned to BLSTMATT's utterance order:
    BLSTMATT, the selected CSA, SYSComb, SYSComb-w<paper weight>, then each baseline followed by
    SYSComb+<it> where fusion made one (:func:`system_pairs` relies on this order)."""
    source = f"test, {run.fold} seed {run.seed}"
    test = pair_posteriors(run.blstmatt, run.csa, classes, f"{source}, C={run.context}")

    def aligned(table: pl.DataFrame, name: str) -> np.ndarray:
        return pair_posteriors(run.blstmatt, table, classes, f"{source}, {name}", other=name).csa_logp

    fused = {name: aligned(rows, name)
             for (name,), rows in run.fused.partition_by("system", as_dict=True, maintain_order=True).items()}
    paper_system = layout.syscomb_weight_system(run.paper_weight)
    missing = sorted({layout.SYSCOMB, paper_system} - set(fused))
    if missing:
        raise ValueError(f"fusion predictions, {run.fold} seed {run.seed}: no rows for {missing}; "
                         "rerun the fusion stage (snakemake fusion)")
    systems = [
        ScoredSystem(layout.BLSTMATT, "blstmatt", test.blstmatt_logp),
        ScoredSystem(layout.csa_system(run.context), "selected_csa", test.csa_logp, run.context),
        ScoredSystem(layout.SYSCOMB, "fusion_selected", fused[layout.SYSCOMB]),
        ScoredSystem(paper_system, "fusion_paper_weight", fused[paper_system]),
    ]
    for name, table in run.others.items():
        systems.append(ScoredSystem(name, "other", aligned(table, name)))
        if layout.syscomb_with(name) in fused:
            systems.append(ScoredSystem(layout.syscomb_with(name), "fusion_other",
                                        fused[layout.syscomb_with(name)]))
    return test.labels, systems


def system_pairs(systems: list[ScoredSystem]) -> list[tuple[ScoredSystem, ScoredSystem]]:
    """(CSA, BLSTMATT); each SYSComb against BLSTMATT and CSA; each other system (baseline)
    against BLSTMATT, CSA and SYSComb; each SYSComb+<other> against BLSTMATT, SYSComb and the
    other system."""
    by_role = {system.role: system for system in systems[:4]}
    blstmatt, csa, syscomb = by_role["blstmatt"], by_role["selected_csa"], by_role["fusion_selected"]
    pairs = [(csa, blstmatt)]
    pairs += [(by_role[role], single) for role in ("fusion_selected", "fusion_paper_weight")
              for single in (blstmatt, csa)]
    others = {system.name: system for system in systems if system.role == "other"}
    for system in systems[4:]:
        if system.role == "other":
            pairs += [(system, blstmatt), (system, csa), (system, syscomb)]
        else:
            other = others[system.name.removeprefix(layout.SYSCOMB_WITH_PREFIX)]
            pairs += [(system, blstmatt), (system, syscomb), (system, other)]
    return pairs


def compare_pairs(systems: list[ScoredSystem], labels: np.ndarray, keys: Mapping,
                  n_classes: int, evaluation: EvaluationSettings) -> pl.DataFrame:
    """Significance of every pair of :func:`system_pairs`, each on the utterances both decided;
    McNemar q-values (Benjamini–Hochberg) within the call. ``keys`` lead each row (``fold`` and
    ``seed`` for a run; ``seed`` and ``n_folds`` for a pooled seed)."""
    rows = []
    for system_a, system_b in system_pairs(systems):
        scored = system_a.kept & system_b.kept
        with_csa = "selected_csa" in (system_a.role, system_b.role)
        row = {**keys, "system_a": system_a.name,
               "system_b": system_b.name, "utterances": "csa_kept" if with_csa else "all_test"}
        row.update(compare_systems(labels[scored], system_a.decisions[scored],
                                   system_b.decisions[scored], n_classes, evaluation))
        rows.append(row)
    qvalues = benjamini_hochberg(np.array([row["mcnemar_pvalue"] for row in rows]))
    table = pl.DataFrame(rows).with_columns(pl.Series("mcnemar_qvalue", qvalues))
    return table.cast({name: pl.Int32 for name in INT32_COLUMNS if name in table.columns})


def compare_run(run: RunPredictions, classes: list[str], evaluation: EvaluationSettings) -> pl.DataFrame:
    labels, systems = run_systems(run, classes)
    return compare_pairs(systems, labels, {"fold": run.fold, "seed": run.seed}, len(classes), evaluation)


def pool_runs(runs: list[tuple[np.ndarray, list[ScoredSystem]]]) -> tuple[np.ndarray, list[ScoredSystem]]:
    """Several runs' (labels, systems) of :func:`run_systems` as one: labels and each system's
    log-posteriors concatenated in run order. The systems are matched by position, which every run
    shares (:func:`run_systems`); names seen at a position are joined (CSA's context is chosen per
    run: ``CSA-C30/CSA-C60``)."""
    roles = [system.role for system in runs[0][1]]
    for _, systems in runs[1:]:
        if [system.role for system in systems] != roles:
            raise ValueError(f"runs compare different systems: {[s.name for s in systems]} vs "
                             f"{[s.name for s in runs[0][1]]}; rerun the fusion stage (snakemake fusion)")
    pooled = []
    for position, role in enumerate(roles):
        at_position = [systems[position] for _, systems in runs]
        name = "/".join(dict.fromkeys(system.name for system in at_position))
        pooled.append(ScoredSystem(name, role, np.concatenate([system.logp for system in at_position])))
    return np.concatenate([labels for labels, _ in runs]), pooled


# ---- summaries ---------------------------------------------------------------------------------
def summarise_significance(significance: pl.DataFrame, alpha: float = 0.05) -> pl.DataFrame:
    """Across runs (folds × seeds), per system pair: mean and SD of the differences, and in how
    many runs McNemar's p fell below ``alpha``."""
    aggregations = [pl.len().cast(pl.Int32).alias("n_runs")]
    for name in ("wa_diff", "ua_diff"):
        aggregations += [pl.col(name).mean().alias(f"{name}_mean"),
                         pl.col(name).std(ddof=1).alias(f"{name}_sd")]
    aggregations.append((pl.col("mcnemar_pvalue") < alpha).sum().cast(pl.Int32)
                        .alias("n_runs_mcnemar_significant"))
    # CSA's name depends on the context selected per run, so group on the pair's position (every
    # run lists the same pairs in the same order) and list the names seen, e.g. "CSA-C30/CSA-C60".
    names = [pl.col(side).unique(maintain_order=True).str.join("/") for side in ("system_a", "system_b")]
    return (significance.with_columns(pl.int_range(pl.len()).over("fold", "seed").alias("pair"))
            .group_by("pair").agg(*names, pl.col("utterances").first(), *aggregations)
            .sort("pair").drop("pair"))


# ---- the stage ---------------------------------------------------------------------------------


def load_run_predictions(run: Mapping, selection: pl.DataFrame, fused: pl.DataFrame,
                         classes: list[str]) -> RunPredictions:
    """One (fold, seed) of the fusion stage's runs (its ``runs`` param: ``fold``, ``seed``,
    ``blstmatt_dir``, ``csa_dirs`` by context, ``others`` by system with a ``test`` file), with the
    context fusion selected (``selection``) and its rows of the fused predictions (``fused``)."""
    fold, seed = run["fold"], int(run["seed"])
    chosen = selection.filter((pl.col("fold") == fold) & (pl.col("seed") == seed))
    if chosen.height != 1:
        raise ValueError(f"fusion selection: {chosen.height} rows for {fold} seed {seed} (expected 1); "
                         "rerun the fusion stage (snakemake fusion)")
    context = int(chosen["context"][0])
    csa_dirs = {int(c): d for c, d in run["csa_dirs"].items()}
    return RunPredictions(
        fold=fold, seed=seed, context=context, paper_weight=float(chosen["paper_weight"][0]),
        blstmatt=read_predictions(Path(run["blstmatt_dir"]) / TEST_PREDICTIONS, classes),
        csa=read_predictions(Path(csa_dirs[context]) / TEST_PREDICTIONS, classes),
        fused=fused.filter((pl.col("fold") == fold) & (pl.col("seed") == seed)),
        others={name: read_predictions(files["test"], classes) for name, files in run["others"].items()},
    )


def run_significance(runs: list[Mapping], classes: list[str], selection_path: str | Path,
                     fused_path: str | Path, evaluation: EvaluationSettings,
                     outputs: Mapping[str, str | Path]) -> pl.DataFrame:
    """Compare the systems of every (fold, seed), and of every seed with its folds pooled, and
    write ``outputs`` (layout.SIGNIFICANCE_OUTPUTS roles ``pairs``, ``summary`` and ``seeds``);
    returns the per-run table."""
    selection, fused = pl.read_parquet(selection_path), pl.read_parquet(fused_path)
    by_seed: dict[int, list[tuple[np.ndarray, list[ScoredSystem]]]] = {}
    per_run = []
    for run in runs:
        predictions = load_run_predictions(run, selection, fused, classes)
        labels, systems = run_systems(predictions, classes)
        by_seed.setdefault(predictions.seed, []).append((labels, systems))
        per_run.append(compare_pairs(systems, labels, {"fold": predictions.fold, "seed": predictions.seed},
                                     len(classes), evaluation))
    pairs = pl.concat(per_run, how="vertical_relaxed")
    per_seed = []
    for seed, seed_runs in sorted(by_seed.items()):
        labels, systems = pool_runs(seed_runs)
        per_seed.append(compare_pairs(systems, labels, {"seed": seed, "n_folds": len(seed_runs)},
                                      len(classes), evaluation))
    seeds = pl.concat(per_seed, how="vertical_relaxed")
    tables = {"pairs": pairs, "summary": summarise_significance(pairs), "seeds": seeds}
    for role, table in tables.items():
        Path(outputs[role]).parent.mkdir(parents=True, exist_ok=True)
        table.write_parquet(outputs[role])
    return pairs
