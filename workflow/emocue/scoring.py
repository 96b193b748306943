"""The one scoring path: a system's test predictions -> its metrics tables (the ``score`` stage).

Every system (BLSTMATT, each CSA context, SYSComb, …) is scored here, from a predictions table with
columns ``level, fold, seed, utt_id, label, pred`` (:data:`DECISION_COLUMNS`). A *level* is
``utterance`` (one decision per utterance) or ``chunk`` (CSA: one decision per C-frame chunk, each
carrying its utterance's label). Metrics (:mod:`emocue.metrics`): WA (overall accuracy), UA (mean
per-class recall), macro-F1, per-class recall and the confusion counts.

Confidence intervals are bootstraps over **test utterances** (``evaluation`` config section:
``bootstrap`` resamples, ``confidence``, ``ci`` method, ``seed``). At chunk level the utterance is
still the resampled unit — an utterance's chunks share its speaker, words and label, so resampling
chunks one by one would give intervals that are too narrow.

Four tables per system (docs/outputs.md, "score"):

- ``runs``: one row per (level, fold, seed) with its bootstrap CI;
- ``seeds``: per (level, seed), the test predictions of every fold pooled (session5: the one fold;
  loso: each utterance is tested exactly once per seed), so a seed's score is over the whole corpus;
- ``summary`` (the aggregator, :func:`summarise`): per level, the mean over seeds of the pooled
  score, its s.d. across seeds (training randomness; ddof 1, null for one seed) and a bootstrap CI
  of that seed-mean over test utterances (test-set sampling): each resample draws utterances once
  and scores every seed on the same draw, so the interval is a CI of the reported mean, not an
  average of per-run CI endpoints;
- ``confusion``: per (level, seed), the confusion counts with every fold pooled.

The prediction tables written by training and fusion are built and checked here as well
(:func:`prediction_frame`, :func:`read_predictions`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from emocue import layout, metrics
from emocue.config import section_defaults
from emocue.stats import percentile_interval, bootstrap_distribution

log = logging.getLogger(__name__)

METRICS = tuple(metrics.SUMMARY_METRICS)  # wa, ua, macro_f1
DECISION_COLUMNS = ("level", "fold", "seed", "utt_id", "label", "pred")
CI_METHODS = ("percentile", "basic")


class PredictionsError(ValueError):
    """A prediction table that does not follow docs/outputs.md; the message names the file."""


@dataclass(frozen=True)
class EvaluationSettings:
    """The ``evaluation`` config section: how predictions are scored (never how models train)."""

    bootstrap: int
    confidence: float
    ci: str  # percentile | basic (the reverse-percentile interval 2θ̂ − q)
    seed: int

    def __post_init__(self):
        if self.ci not in CI_METHODS:
            raise ValueError(f"evaluation.ci: {self.ci!r} is not one of {CI_METHODS}")

    @classmethod
    def from_config(cls, section: dict) -> EvaluationSettings:
        return cls(**{key: section[key] for key in cls.__dataclass_fields__})

    @classmethod
    def defaults(cls, **overrides) -> EvaluationSettings:
        """The schema's ``evaluation`` defaults (their one place), with ``overrides``."""
        return replace(cls.from_config(section_defaults("evaluation")), **overrides)

    def interval(self, estimate: float, distribution: np.ndarray) -> tuple[float, float]:
        low, high = percentile_interval(distribution, self.confidence)
        if self.ci == "basic":
            low, high = 2 * estimate - high, 2 * estimate - low
        return low, high


# ---- prediction tables --------------------------------------------------------------------------
def logp_columns(classes: Sequence[str]) -> list[str]:
    return [f"logp_{name}" for name in classes]


def prediction_frame(utt_ids, labels: np.ndarray, logp: np.ndarray,
                     classes: Sequence[str]) -> pl.DataFrame:
    """A prediction table (docs/outputs.md): utt_id, label, pred (the argmax of ``logp``) and
    ``logp_<class>``, from class indices and (N, K) log-posteriors."""
    return pl.DataFrame({
        "utt_id": utt_ids,
        "label": [classes[i] for i in labels],
        "pred": [classes[k] for k in logp.argmax(axis=1)],
        **dict(zip(logp_columns(classes), logp.T)),
    })


def check_columns(table: pl.DataFrame, needed: Sequence[str], source: str) -> None:
    missing = [name for name in needed if name not in table.columns]
    if missing:
        raise PredictionsError(f"{source}: missing columns {missing} (expected {list(needed)}, see "
                               "docs/outputs.md); re-run the job that wrote it")


def check_labels(table: pl.DataFrame, classes: Sequence[str], source: str,
                 columns: Sequence[str] = ("label",)) -> None:
    for column in columns:
        unknown = sorted(set(table[column].drop_nulls().to_list()) - set(classes))
        if unknown or table[column].null_count():
            raise PredictionsError(
                f"{source}: {column} values {unknown or [None]} are not in corpus.classes "
                f"{list(classes)}; the run and this config disagree on the classes — re-run it")


def read_predictions(path: str | Path, classes: Sequence[str]) -> pl.DataFrame:
    """Read a training run's prediction table, checking the columns the later stages rely on."""
    table = pl.read_parquet(path)
    needed = ["utt_id", "label", "pred", *logp_columns(classes)]
    check_columns(table, needed, str(path))
    duplicated = table.filter(pl.col("utt_id").is_duplicated())["utt_id"].unique().to_list()
    if duplicated:
        raise PredictionsError(f"{path}: utterances listed twice: {sorted(duplicated)[:5]}")
    check_labels(table, classes, str(path))
    return table.select(needed)


def label_indices(labels: pl.Series | Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Class names -> indices into ``classes`` (labels were checked when read)."""
    lookup = {name: index for index, name in enumerate(classes)}
    return pl.Series(labels, dtype=pl.String).replace_strict(lookup, return_dtype=pl.Int64).to_numpy()


def point_score(labels: np.ndarray, preds: np.ndarray, n_classes: int, metric: str) -> float:
    """WA, UA or macro-F1 without a CI (validation, where only the ranking matters)."""
    if len(labels) == 0:
        return float("nan")
    return float(metrics.SUMMARY_METRICS[metric](metrics.confusion_matrix(labels, preds, n_classes)))


def point_scores(table: pl.DataFrame, classes: Sequence[str]) -> dict[str, float]:
    """WA and UA of a prediction table (utt_id, label, pred)."""
    labels, preds = label_indices(table["label"], classes), label_indices(table["pred"], classes)
    return {name: point_score(labels, preds, len(classes), name) for name in ("wa", "ua")}


def run_decisions(predictions: pl.DataFrame, fold: str, seed: int,
                  chunks: pl.DataFrame | None, classes: Sequence[str], source: str) -> pl.DataFrame:
    """The DECISION_COLUMNS rows of one training run: utterance level from its predictions table
    and, for CSA, chunk level from its chunk table (each chunk's argmax, labelled with its
    utterance's label)."""
    utterance = predictions.select(pl.lit("utterance").alias("level"), pl.lit(fold).alias("fold"),
                                   pl.lit(seed).alias("seed"), "utt_id", "label", "pred")
    if chunks is None:
        return utterance
    columns = logp_columns(classes)
    check_columns(chunks, ["utt_id", *columns], source)
    argmax = np.asarray(chunks.select(columns).to_numpy()).argmax(axis=1)
    chunk = (chunks.select("utt_id", pl.Series("pred", [classes[k] for k in argmax]))
             .join(predictions.select("utt_id", "label"), on="utt_id", how="left",
                   maintain_order="left"))
    orphans = chunk.filter(pl.col("label").is_null())["utt_id"].unique().to_list()
    if orphans:
        raise PredictionsError(f"{source}: chunks of utterances missing from the run's predictions "
                               f"table ({sorted(orphans)[:5]}); re-run the training job")
    chunk = chunk.select(pl.lit("chunk").alias("level"), pl.lit(fold).alias("fold"),
                         pl.lit(seed).alias("seed"), "utt_id", "label", "pred")
    return pl.concat([utterance, chunk])


def load_decisions(system: str, predictions: Sequence[str | Path], runs: Sequence[dict | None],
                   chunk_predictions: Sequence[str | Path], classes: Sequence[str]) -> pl.DataFrame:
    """A system's DECISION_COLUMNS table from its prediction files (the ``score_system`` inputs).

    ``runs[i]`` gives fold and seed of ``predictions[i]`` (a training run's table); None means the
    table carries ``fold``, ``seed`` and ``system`` columns (fusion, baseline) and holds this
    system's rows among others. ``chunk_predictions`` (CSA; else empty) pairs with ``predictions``.
    """
    if chunk_predictions and len(chunk_predictions) != len(predictions):
        raise ValueError(f"{system}: {len(predictions)} prediction tables but "
                         f"{len(chunk_predictions)} chunk tables")
    tables = []
    for index, (path, run) in enumerate(zip(predictions, runs, strict=True)):
        if run is None:
            table = pl.read_parquet(path)
            check_columns(table, ["system", "fold", "seed", "utt_id", "label", "pred"], str(path))
            table = table.filter(pl.col("system") == system)
            if table.height == 0:
                raise PredictionsError(f"{path}: no rows of system {system!r}; re-run the job that "
                                       "wrote it")
            check_labels(table, classes, str(path))
            tables.append(table.select(pl.lit("utterance").alias("level"), pl.col("fold"),
                                       pl.col("seed").cast(pl.Int32), "utt_id", "label", "pred"))
            continue
        chunks = pl.read_parquet(chunk_predictions[index]) if chunk_predictions else None
        tables.append(run_decisions(read_predictions(path, classes), str(run["fold"]),
                                    int(run["seed"]), chunks, classes,
                                    str(chunk_predictions[index]) if chunk_predictions else str(path)))
    return pl.concat([table.cast({"seed": pl.Int32}) for table in tables])


# ---- scoring ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Units:
    """Decisions grouped by utterance: each utterance's own confusion counts, flattened."""

    utt_ids: np.ndarray  # (G,) sorted
    confusions: np.ndarray  # (G, K*K) counts of (label, pred) pairs of the utterance's decisions

    @classmethod
    def of(cls, table: pl.DataFrame, classes: Sequence[str]) -> Units:
        K = len(classes)
        utt_ids, group = np.unique(table["utt_id"].to_numpy(), return_inverse=True)
        codes = label_indices(table["label"], classes) * K + label_indices(table["pred"], classes)
        confusions = np.zeros((len(utt_ids), K * K), np.int64)
        np.add.at(confusions, (group, codes), 1)
        return cls(utt_ids, confusions)


def resampled_confusions(units: Units, indices: np.ndarray) -> np.ndarray:
    """(R, K*K) confusion counts of each resample of utterances (``indices`` (R, G))."""
    R, G = indices.shape
    offsets = np.arange(R, dtype=np.int64)[:, None] * G
    draws = np.bincount((indices + offsets).ravel(), minlength=R * G).reshape(R, G)  # (R, G)
    return draws.astype(np.float64) @ units.confusions.astype(np.float64)  # BLAS: exact below 2^53


def _square(flat: np.ndarray) -> np.ndarray:
    K = int(round(np.sqrt(flat.shape[-1])))
    return flat.reshape(*flat.shape[:-1], K, K)


def score_units(units: list[Units], classes: Sequence[str],
                settings: EvaluationSettings) -> dict:
    """Metrics of one or several seeds' decisions on the same utterances: each metric's mean over
    the seeds, its CI (every seed scored on the same utterance resample), per-class recall (mean
    over seeds), the pooled confusion counts, ``n`` (decisions per seed) and ``n_utterances``."""
    K = len(classes)
    confusion = np.stack([_square(u.confusions.sum(axis=0)) for u in units])  # (S, K, K)
    n_utterances = len(units[0].utt_ids)

    functions = list(metrics.SUMMARY_METRICS.values())

    def seed_means(indices: np.ndarray) -> np.ndarray:  # (R, G) -> (R, metrics)
        resampled = [_square(resampled_confusions(u, indices)) for u in units]  # S × (R, K, K)
        return np.stack([np.mean([f(c) for c in resampled], axis=0) for f in functions], axis=1)

    row: dict = {"n": int(confusion.sum()) // len(units), "n_utterances": n_utterances}
    distribution = (bootstrap_distribution(seed_means, n_utterances, settings.bootstrap, settings.seed)
                    if n_utterances else None)
    for column, (name, metric) in enumerate(metrics.SUMMARY_METRICS.items()):
        estimate = float(np.mean(metric(confusion)))
        low, high = (settings.interval(estimate, distribution[:, column])
                     if distribution is not None else (float("nan"), float("nan")))
        row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = estimate, low, high
    recall = metrics.recall_from_confusion(confusion)  # (S, K), NaN for a class nobody has
    present = np.isfinite(recall).sum(axis=0)
    recall = np.where(present > 0, np.nansum(recall, axis=0) / np.maximum(present, 1), np.nan)
    row.update({f"recall_{name}": (float(value) if np.isfinite(value) else None)
                for name, value in zip(classes, recall)})
    row["confusion"] = confusion.sum(axis=0).reshape(K, K)
    return row


@dataclass(frozen=True)
class Scores:
    runs: pl.DataFrame
    seeds: pl.DataFrame
    summary: pl.DataFrame
    confusion: pl.DataFrame


def _metric_schema(classes: Sequence[str]) -> dict:
    return {"n": pl.Int32, "n_utterances": pl.Int32,
            **{f"{name}{suffix}": pl.Float64 for name in METRICS
               for suffix in ("", "_ci_low", "_ci_high")},
            **{f"recall_{name}": pl.Float64 for name in classes}}


def _same_utterances(units: list[Units], seeds: list[int], where: str) -> None:
    for unit, seed in zip(units[1:], seeds[1:]):
        if not np.array_equal(unit.utt_ids, units[0].utt_ids):
            raise PredictionsError(
                f"{where}: seed {seed} was tested on other utterances than seed {seeds[0]}; every "
                "seed must test the same utterances (same corpus and split) — re-run its jobs")


def score_system(decisions: pl.DataFrame, classes: Sequence[str], system: str,
                 settings: EvaluationSettings) -> Scores:
    """The ``runs``, ``seeds``, ``summary`` and ``confusion`` tables of one system (module doc)."""
    check_columns(decisions, DECISION_COLUMNS, system)
    check_labels(decisions, classes, system, ("label", "pred"))
    runs, seeds, summary, confusion = [], [], [], []
    for (level,), at_level in decisions.group_by("level", maintain_order=True):
        for (fold, seed), run in at_level.group_by("fold", "seed", maintain_order=True):
            row = score_units([Units.of(run, classes)], classes, settings)
            row.pop("confusion")
            runs.append({"system": system, "level": level, "fold": fold, "seed": seed, **row})
        seed_units = []
        for (seed,), pooled in at_level.group_by("seed", maintain_order=True):
            seed_units.append(Units.of(pooled, classes))
            row = score_units(seed_units[-1:], classes, settings)
            counts = row.pop("confusion")
            seeds.append({"system": system, "level": level, "seed": seed,
                          "n_folds": pooled["fold"].n_unique(), **row})
            confusion += [{"system": system, "level": level, "seed": seed, "label": true,
                           "pred": predicted, "count": int(counts[i, j])}
                          for i, true in enumerate(classes) for j, predicted in enumerate(classes)]
        summary.append(summarise(system, level, seed_units, seeds[-len(seed_units):], classes,
                                 settings))
    metric_schema = _metric_schema(classes)
    run_schema = {"system": pl.String, "level": pl.String, "fold": pl.String, "seed": pl.Int32}
    return Scores(
        runs=pl.DataFrame(runs, schema=run_schema | metric_schema, orient="row"),
        seeds=pl.DataFrame(seeds, schema={"system": pl.String, "level": pl.String, "seed": pl.Int32,
                                          "n_folds": pl.Int32} | metric_schema, orient="row"),
        summary=pl.DataFrame(summary, schema=SUMMARY_SCHEMA | metric_schema
                             | {f"{name}_sd": pl.Float64 for name in METRICS}, orient="row"),
        confusion=pl.DataFrame(confusion, schema={
            "system": pl.String, "level": pl.String, "seed": pl.Int32, "label": pl.String,
            "pred": pl.String, "count": pl.Int32}, orient="row"),
    )


SUMMARY_SCHEMA = {"system": pl.String, "level": pl.String, "n_seeds": pl.Int32,
                  "n_folds": pl.Int32, "ci_method": pl.String, "confidence": pl.Float64,
                  "bootstrap": pl.Int32}


def summarise(system: str, level: str, seed_units: list[Units], seed_rows: list[dict],
              classes: Sequence[str], settings: EvaluationSettings) -> dict:
    """The aggregator: one summary row across seeds (module docstring): mean over seeds of each
    seed's fold-pooled score, s.d. across seeds, and the CI of the seed-mean over utterances."""
    _same_utterances(seed_units, [seed_row["seed"] for seed_row in seed_rows],
                     f"{system} ({level} level)")
    row = score_units(seed_units, classes, settings)
    row.pop("confusion")
    for name in METRICS:
        values = np.array([seed_row[name] for seed_row in seed_rows], float)
        row[f"{name}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else None
    return {"system": system, "level": level, "n_seeds": len(seed_rows),
            "n_folds": max(seed_row["n_folds"] for seed_row in seed_rows),
            "ci_method": settings.ci, "confidence": settings.confidence,
            "bootstrap": settings.bootstrap, **row}


def write_scores(scores: Scores, outputs: dict[str, str | Path]) -> None:
    """Write the four tables to the paths of ``layout.SCORE_FILES`` roles."""
    for name in layout.SCORE_FILES:
        path = Path(outputs[name])
        path.parent.mkdir(parents=True, exist_ok=True)
        getattr(scores, name).write_parquet(path)
    for row in scores.summary.iter_rows(named=True):
        log.info("%s (%s level, %d seeds): WA %.3f [%.3f, %.3f]  UA %.3f [%.3f, %.3f]",
                 row["system"], row["level"], row["n_seeds"], row["wa"], row["wa_ci_low"],
                 row["wa_ci_high"], row["ua"], row["ua_ci_low"], row["ua_ci_high"])
