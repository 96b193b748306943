"""CSA context-length sweep: one row per (context, fold, seed) run and a summary per context.

CSA classifies fixed-length chunks of C frames, so an utterance shorter than C frames has no chunk
and is left out of that run's predictions (the training stage counts it in ``metrics.json``). The
sweep reports, per run, WA / UA / macro-F1 on the test utterances CSA kept — with percentile
bootstrap CIs over utterances — how many test utterances were kept and left out, and the same
point metrics on validation (what ``fusion.context: best`` selects on).

WA (weighted accuracy) is the overall accuracy, i.e. per-class recall weighted by class frequency;
UA (unweighted accuracy) is the mean per-class recall. The paper's Table 1 swaps the two names.

The prediction tables (``predictions.parquet``, ``val_predictions.parquet``) are read here for the
fusion stage too: :func:`read_predictions` checks their columns and labels, and
:func:`prediction_frame` builds them (training and fusion write the same columns).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from emocue import metrics

log = logging.getLogger(__name__)

METRICS = ("wa", "ua", "macro_f1")


class PredictionsError(ValueError):
    """A prediction table that does not follow docs/outputs.md; the message names the file."""


def logp_columns(classes: list[str]) -> list[str]:
    return [f"logp_{name}" for name in classes]


def prediction_frame(utt_ids, labels: np.ndarray, logp: np.ndarray,
                     classes: list[str]) -> pl.DataFrame:
    """A prediction table (docs/outputs.md): utt_id, label, pred (the argmax of ``logp``) and
    ``logp_<class>``, from class indices and (N, K) log-posteriors."""
    return pl.DataFrame({
        "utt_id": utt_ids,
        "label": [classes[i] for i in labels],
        "pred": [classes[k] for k in logp.argmax(axis=1)],
        **dict(zip(logp_columns(classes), logp.T)),
    })


def read_predictions(path: str | Path, classes: list[str]) -> pl.DataFrame:
    """Read a training run's prediction table, checking the columns the later stages rely on."""
    path = Path(path)
    table = pl.read_parquet(path)
    needed = ["utt_id", "label", "pred", *logp_columns(classes)]
    missing = [name for name in needed if name not in table.columns]
    if missing:
        raise PredictionsError(
            f"{path}: missing columns {missing} (expected {needed}, see docs/outputs.md); "
            "re-run the training job that wrote it"
        )
    duplicated = table.filter(pl.col("utt_id").is_duplicated())["utt_id"].unique().to_list()
    if duplicated:
        raise PredictionsError(f"{path}: utterances listed twice: {sorted(duplicated)[:5]}")
    unknown = sorted(set(table["label"].drop_nulls().to_list()) - set(classes))
    if unknown or table["label"].null_count():
        raise PredictionsError(
            f"{path}: labels {unknown or [None]} are not in corpus.classes {classes}; "
            "the training run and this config disagree on the classes — re-run training"
        )
    return table.select(needed)


def label_indices(labels: pl.Series | list[str], classes: list[str]) -> np.ndarray:
    """Class names -> indices into ``classes`` (labels were checked by read_predictions)."""
    lookup = {name: index for index, name in enumerate(classes)}
    return np.array([lookup[label] for label in labels], dtype=np.int64)


def score_table(table: pl.DataFrame, classes: list[str], n_resamples: int, seed: int) -> dict:
    """WA, UA and macro-F1 (with bootstrap CIs) of a prediction table: ``{metric}``,
    ``{metric}_ci_low``, ``{metric}_ci_high`` and ``n``."""
    return score_decisions(label_indices(table["label"], classes),
                           label_indices(table["pred"], classes), classes, n_resamples, seed)


def score_decisions(labels: np.ndarray, preds: np.ndarray, classes: list[str], n_resamples: int,
                    seed: int) -> dict:
    """The row fields of :func:`score_table` from class-index arrays (emocue.metrics computes)."""
    report = metrics.evaluate(labels, preds, classes, n_bootstrap=n_resamples, seed=seed)
    fields = [f"{name}{suffix}" for name in METRICS for suffix in ("", "_ci_low", "_ci_high")]
    return {"n": report["n"], **{field: report[field] for field in fields}}


def point_score(labels: np.ndarray, preds: np.ndarray, n_classes: int, metric: str) -> float:
    """WA or UA without a CI (validation, where only the ranking matters)."""
    if len(labels) == 0:
        return float("nan")
    return float(metrics.SUMMARY_METRICS[metric](metrics.confusion_matrix(labels, preds, n_classes)))


def point_scores(table: pl.DataFrame, classes: list[str]) -> dict:
    labels = label_indices(table["label"], classes)
    preds = label_indices(table["pred"], classes)
    return {name: point_score(labels, preds, len(classes), name) for name in ("wa", "ua")}


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
    """The files of one CSA training run."""

    context: int
    fold: str
    seed: int
    test_predictions: Path
    val_predictions: Path
    metrics: Path


def csa_run_dir(results: str | Path, context: int, fold: str, seed: int) -> Path:
    return Path(results) / "train" / "csa" / f"C{context}" / fold / f"seed{seed}"


def sweep_row(run: SweepRun, classes: list[str], n_resamples: int) -> dict:
    test = read_predictions(run.test_predictions, classes)
    val = read_predictions(run.val_predictions, classes)
    left_out = left_out_counts(run.metrics)
    if test.height == 0:
        raise PredictionsError(
            f"{run.test_predictions}: CSA with context {run.context} kept no test utterance "
            f"(all shorter than {run.context} frames); drop {run.context} from csa.contexts"
        )
    scores = score_table(test, classes, n_resamples, seed=run.seed)
    row = {"context": run.context, "fold": run.fold, "seed": run.seed}
    row["n_test_kept"] = scores.pop("n")
    row["n_test_left_out"] = left_out.get("test", 0)
    row.update(scores)
    val_scores = point_scores(val, classes)
    row["val_wa"], row["val_ua"] = val_scores["wa"], val_scores["ua"]
    row["n_val_kept"] = val.height
    row["n_val_left_out"] = left_out.get("val")
    return row


SWEEP_SCHEMA = {
    "context": pl.Int32, "fold": pl.String, "seed": pl.Int32,
    "n_test_kept": pl.Int32, "n_test_left_out": pl.Int32,
    **{f"{name}{suffix}": pl.Float64 for name in METRICS for suffix in ("", "_ci_low", "_ci_high")},
    "val_wa": pl.Float64, "val_ua": pl.Float64,
    "n_val_kept": pl.Int32, "n_val_left_out": pl.Int32,
}


def build_sweep(runs: list[SweepRun], classes: list[str], n_resamples: int) -> pl.DataFrame:
    """The sweep table, one row per run, sorted by context, fold, seed."""
    rows = []
    for run in runs:
        rows.append(sweep_row(run, classes, n_resamples))
        log.info("C=%d %s seed %d: WA %.3f UA %.3f on %d kept, %d left out", run.context, run.fold,
                 run.seed, rows[-1]["wa"], rows[-1]["ua"], rows[-1]["n_test_kept"],
                 rows[-1]["n_test_left_out"])
    table = pl.DataFrame(rows, schema=SWEEP_SCHEMA, orient="row")
    return table.sort("context", "fold", "seed")


def summarise_sweep(sweep: pl.DataFrame) -> pl.DataFrame:
    """Per context, across folds and seeds: number of runs, mean and SD (ddof 1) of each metric,
    mean kept / left-out counts. The SD is null with a single run."""
    aggregations = [pl.len().cast(pl.Int32).alias("n_runs")]
    for name in (*METRICS, "val_wa", "val_ua"):
        aggregations += [pl.col(name).mean().alias(f"{name}_mean"),
                         pl.col(name).std(ddof=1).alias(f"{name}_sd")]
    aggregations += [pl.col("n_test_kept").mean().alias("n_test_kept_mean"),
                     pl.col("n_test_left_out").mean().alias("n_test_left_out_mean")]
    return sweep.group_by("context").agg(aggregations).sort("context")


def run_sweep(runs: list[SweepRun], classes: list[str], n_resamples: int,
              sweep_path: str | Path, summary_path: str | Path) -> pl.DataFrame:
    sweep = build_sweep(runs, classes, n_resamples)
    summary = summarise_sweep(sweep)
    for path, table in ((sweep_path, sweep), (summary_path, summary)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        table.write_parquet(path)
    log.info("sweep: %d runs over contexts %s", sweep.height, sorted(set(sweep["context"])))
    return sweep
