"""CSA context-length sweep: one row per (context, fold, seed) run and a summary per context.

CSA classifies fixed-length chunks of C frames, so an utterance shorter than C frames has no chunk
and is left out of that run's predictions (the training stage counts it in ``metrics.json``). The
sweep collects, per context, the score stage's results (emocue.scoring: test WA / UA / macro-F1
with bootstrap CIs over utterances) at both levels — ``utterance`` (mean of the chunk
log-posteriors, CSA's decision for the utterance) and ``chunk`` (each chunk's own decision; the
paper's CSA "performs frame-level classification") — beside the counts of test utterances kept and
left out, and the validation WA / UA (what ``fusion.context: best`` selects on).

WA (weighted accuracy) is the overall accuracy, i.e. per-class recall weighted by class frequency;
UA (unweighted accuracy) is the mean per-class recall. The paper's Table 1 swaps the two names.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from emocue import layout
from emocue.scoring import METRICS, PredictionsError, point_scores, read_predictions

log = logging.getLogger(__name__)

CI_FIELDS = [f"{name}{suffix}" for name in METRICS for suffix in ("", "_ci_low", "_ci_high")]
CHUNK_FIELDS = [f"{name}{suffix}" for name in ("wa", "ua") for suffix in ("", "_ci_low", "_ci_high")]


def left_out_counts(metrics_path: str | Path) -> dict[str, int]:
    """Utterances the run left out (shorter than C), per split, from the run's metrics.json."""
    metrics_path = Path(metrics_path)
    with open(metrics_path) as handle:
        run_metrics = json.load(handle)
    left_out = run_metrics.get("n_left_out")
    if isinstance(left_out, dict):
        return {str(split): int(count) for split, count in left_out.items()}
    raise PredictionsError(
        f"{metrics_path}: no 'n_left_out' count (see docs/outputs.md, train); re-run training"
    )


@dataclass(frozen=True)
class SweepRun:
    """The files of one CSA training run that the sweep reads (its scores come per context)."""

    context: int
    fold: str
    seed: int
    val_predictions: Path
    metrics: Path


@dataclass(frozen=True)
class ContextScores:
    """The score stage's tables of one CSA context (``layout.score_file`` runs and summary)."""

    context: int
    runs: Path
    summary: Path


def _level(table: pl.DataFrame, level: str, source: Path) -> pl.DataFrame:
    rows = table.filter(pl.col("level") == level)
    if rows.height == 0:
        raise PredictionsError(f"{source}: no {level}-level scores; re-run the score stage")
    return rows


def run_rows(scores: ContextScores) -> pl.DataFrame:
    """Per (fold, seed) of one context: utterance-level metrics and chunk-level WA / UA."""
    runs = pl.read_parquet(scores.runs)
    utterance = _level(runs, "utterance", scores.runs).select(
        "fold", "seed", pl.col("n").alias("n_test_kept"), *CI_FIELDS)
    chunk = _level(runs, "chunk", scores.runs).select(
        "fold", "seed", pl.col("n").alias("n_test_chunks"),
        *(pl.col(field).alias(f"chunk_{field}") for field in CHUNK_FIELDS))
    return (utterance.join(chunk, on=["fold", "seed"], how="left", maintain_order="left")
            .select(pl.lit(scores.context, pl.Int32).alias("context"), pl.all()))


def validation_row(run: SweepRun, classes: list[str]) -> dict:
    val = read_predictions(run.val_predictions, classes)
    left_out = left_out_counts(run.metrics)
    scores = point_scores(val, classes)
    return {"context": run.context, "fold": run.fold, "seed": run.seed,
            "n_test_left_out": left_out.get("test", 0), "val_wa": scores["wa"],
            "val_ua": scores["ua"], "n_val_kept": val.height, "n_val_left_out": left_out.get("val")}


SWEEP_SCHEMA = {
    "context": pl.Int32, "fold": pl.String, "seed": pl.Int32,
    "n_test_kept": pl.Int32, "n_test_left_out": pl.Int32,
    **{field: pl.Float64 for field in CI_FIELDS},
    "n_test_chunks": pl.Int32, **{f"chunk_{field}": pl.Float64 for field in CHUNK_FIELDS},
    "val_wa": pl.Float64, "val_ua": pl.Float64, "n_val_kept": pl.Int32, "n_val_left_out": pl.Int32,
}


def build_sweep(runs: list[SweepRun], scores: list[ContextScores],
                classes: list[str]) -> pl.DataFrame:
    """The sweep table, one row per run, sorted by context, fold, seed."""
    scored = pl.concat([run_rows(context) for context in scores])
    validation = pl.DataFrame([validation_row(run, classes) for run in runs],
                              schema={name: SWEEP_SCHEMA[name] for name in (
                                  "context", "fold", "seed", "n_test_left_out", "val_wa", "val_ua",
                                  "n_val_kept", "n_val_left_out")}, orient="row")
    table = scored.join(validation, on=["context", "fold", "seed"], how="full", coalesce=True)
    missing = table.filter(pl.col("wa").is_null() | pl.col("val_wa").is_null())
    if missing.height:
        raise PredictionsError(
            "sweep: runs without both test scores and validation predictions: "
            f"{missing.select('context', 'fold', 'seed').rows()[:5]}; re-run the score stage")
    empty = table.filter(pl.col("n_test_kept") == 0)
    if empty.height:
        raise PredictionsError(
            f"CSA kept no test utterance for contexts {sorted(set(empty['context']))} (all shorter "
            "than C frames); drop them from csa.contexts")
    for row in table.sort("context", "fold", "seed").iter_rows(named=True):
        log.info("C=%d %s seed %d: WA %.3f UA %.3f (chunks: WA %.3f UA %.3f) on %d kept, %d left "
                 "out", row["context"], row["fold"], row["seed"], row["wa"], row["ua"],
                 row["chunk_wa"], row["chunk_ua"], row["n_test_kept"], row["n_test_left_out"])
    return table.select(list(SWEEP_SCHEMA)).cast(SWEEP_SCHEMA).sort("context", "fold", "seed")


def summarise_sweep(sweep: pl.DataFrame, scores: list[ContextScores]) -> pl.DataFrame:
    """Per context: the score stage's across-seed summary (emocue.scoring.summarise: mean over
    seeds, s.d. across seeds, CI of the mean over utterances) at utterance level and, as
    ``chunk_*``, at chunk level; the mean validation WA / UA and kept / left-out counts per run."""
    rows = []
    for context in scores:
        summary = pl.read_parquet(context.summary)
        fields = [*CI_FIELDS, *(f"{name}_sd" for name in METRICS)]
        utterance = _level(summary, "utterance", context.summary).select(
            "n_seeds", "n_folds", *fields).row(0, named=True)
        chunk = _level(summary, "chunk", context.summary).select(
            *CHUNK_FIELDS, "wa_sd", "ua_sd").row(0, named=True)
        rows.append({"context": context.context, **utterance,
                     **{f"chunk_{name}": value for name, value in chunk.items()}})
    per_run = sweep.group_by("context").agg(
        pl.len().cast(pl.Int32).alias("n_runs"),
        pl.col("val_wa").mean().alias("val_wa_mean"), pl.col("val_ua").mean().alias("val_ua_mean"),
        pl.col("n_test_kept").mean().alias("n_test_kept_mean"),
        pl.col("n_test_left_out").mean().alias("n_test_left_out_mean"))
    counts = {"context": pl.Int32, "n_seeds": pl.Int32, "n_folds": pl.Int32}
    table = pl.DataFrame(rows).cast({name: counts.get(name, pl.Float64) for name in rows[0]})
    return table.join(per_run, on="context", how="left").sort("context")


def run_sweep(runs: list[SweepRun], scores: list[ContextScores], classes: list[str],
              outputs: dict[str, str | Path]) -> pl.DataFrame:
    """Write the sweep table and its summary to the ``layout.SWEEP_OUTPUTS`` roles."""
    sweep = build_sweep(runs, scores, classes)
    tables = {"sweep": sweep, "summary": summarise_sweep(sweep, scores)}
    for name in layout.SWEEP_OUTPUTS:
        Path(outputs[name]).parent.mkdir(parents=True, exist_ok=True)
        tables[name].write_parquet(outputs[name])
    log.info("sweep: %d runs over contexts %s", sweep.height, sorted(set(sweep["context"])))
    return sweep
