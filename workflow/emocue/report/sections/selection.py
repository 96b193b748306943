"""Report section "Choices on validation": the baseline's C and the hyper-parameter search's point.

Both are chosen on the validation split only (emocue.baseline, emocue.hparam); this section shows
what was chosen and the validation scores behind each choice. The baseline's test scores are in
Table 1 (models section) like every other system's.
"""

from __future__ import annotations

import polars as pl

from emocue import layout
from emocue.config import fold_names
from emocue.report.blocks import NotConfigured, SectionSpec, table_from_frame
from emocue.report.inputs import Inputs


def baseline_classifiers(config: dict) -> list[str]:
    baseline = config["baseline"]
    return list(baseline["classifiers"]) if baseline["enabled"] else []


def files(config: dict) -> dict[str, list[str]]:
    seeds = config["train"]["seeds"]
    declared = {}
    if baseline_classifiers(config):
        declared["baseline_selection"] = [
            layout.baseline_outputs(classifier, fold, seed, root="")["selection"]
            for classifier in baseline_classifiers(config) for fold in fold_names(config) for seed in seeds]
    if config["hparam"]["enabled"]:
        declared["hparam_search"] = [layout.hparam_outputs(fold, root="")["search"] for fold in fold_names(config)]
    return declared


def _baseline_blocks(inputs: Inputs, config: dict) -> list:
    if not baseline_classifiers(config):
        raise NotConfigured("the classical baseline is off (baseline.enabled: false)")
    selection = inputs.tables(inputs.declared("baseline_selection"), "baseline",
                              ["classifier", "fold", "seed", "c", "metric", "val_score", "chosen"])
    chosen = (selection.filter("chosen")
              .with_columns(system=pl.col("classifier").replace_strict(layout.BASELINE_SYSTEMS))
              .select("system", "fold", "seed", pl.col("c").alias("C"), "metric",
                      pl.col("val_score").alias("validation score"))
              .sort("system", "fold", "seed"))
    grid = (selection.group_by("classifier", "c", maintain_order=True)
            .agg(runs=pl.len(), chosen=pl.col("chosen").sum(), mean_val_score=pl.col("val_score").mean())
            .sort("classifier", "c"))
    return [
        table_from_frame(chosen, "eGeMAPS baseline: C chosen on validation, per fold and seed",
                         note=f"From {', '.join(sorted(set(config['baseline']['classifiers'])))} runs "
                              "(results/baseline/<classifier>/<fold>/seed<seed>/selection.parquet); the "
                              "validation split is the neural models' of the same fold and seed; test "
                              "scores are in Table 1.", digits=3, max_rows=40),
        table_from_frame(grid, "eGeMAPS baseline: every C tried (validation score, mean over runs)", digits=3),
    ]


def _hparam_blocks(inputs: Inputs, config: dict) -> list:
    if not config["hparam"]["enabled"]:
        raise NotConfigured("the hyper-parameter search is off (hparam.enabled: false)")
    search = inputs.tables(inputs.declared("hparam_search"), "hparam",
                           ["fold", "point", "lr", "hidden_size", "dropout", "metric", "best_epoch", "val_score",
                            "chosen"])
    return [table_from_frame(
        search.select("fold", "point", "lr", "hidden_size", "dropout", "metric", "best_epoch",
                      pl.col("val_score").alias("validation score"), "chosen"),
        "BLSTMATT hyper-parameter search: validation score of every grid point (chosen point marked)",
        note="One training run per fold and point (first seed); the fold's BLSTMATT runs use the chosen "
             "point (metrics.json: hparams). Only validation curves are read.", digits=4, max_rows=60)]


SECTION = SectionSpec(
    id="selection", title="Choices on validation", files=files,
    parts=(("Classical baseline", _baseline_blocks), ("Hyper-parameter search", _hparam_blocks)),
)
