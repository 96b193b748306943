"""System combination (the paper's SYSComb), significance of system differences, and Table 1.

Fusion (paper §4, "CSA posteriors scaled by 0.4 and multiplied"): per test utterance

    log p(k) = log p_BLSTMATT(k) + w · log p_CSA(k) − log Σ_j exp(log p_BLSTMATT(j) + w · log p_CSA(j))

Multiplying posteriors by a constant would change no decision, so the weight is an exponent
(log-linear fusion). w = 0 is BLSTMATT alone; as w grows the decision tends to CSA's. Utterances
CSA left out (shorter than its context C) fall back to BLSTMATT alone and are counted.

Selection uses the validation split only: the CSA context is the one whose own validation score
(``fusion.select_metric``, UA by default) is best — or ``fusion.context`` from config — and w is
the grid point (``weight_min`` … ``weight_max`` step ``weight_step``) with the best fused
validation score; ties go to the smaller context / smaller w. :func:`select_fusion` takes no test
data at all. The paper's w (``paper_weight``) is always reported beside the selected one.

Significance, per (fold, seed), for each pair of systems on the utterances both scored: the WA and
UA differences with 95 % paired-bootstrap CIs and McNemar's exact test on correct/incorrect
decisions (see :mod:`emocue.stats`); McNemar p-values get Benjamini–Hochberg q-values within the run.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats as scipy_stats
from scipy.special import logsumexp

from emocue import metrics
from emocue.stats import benjamini_hochberg, mcnemar_exact, paired_bootstrap_difference
from emocue.sweep import (
    METRICS,
    PredictionsError,
    label_indices,
    logp_columns,
    prediction_frame,
    read_predictions,
    point_score,
    score_decisions,
)

log = logging.getLogger(__name__)

BLSTMATT = "BLSTMATT"
FUSION = "SYSComb"

# The paper's Table 1 (Jalal, Milner & Hain, Interspeech 2020), keyed by our row labels
# (BLSTMATT, CSA-C<context>, SYSComb), values (WA, UA) in % under the USUAL definitions — the paper
# prints them under swapped names, so its column "UA" goes to WA here and its "WA" to UA.
# Empty: the published numbers could not be looked up where this was written; fill from the paper.
PAPER_TABLE1: dict[str, tuple[float, float]] = {}
PAPER_NOTE_MISSING = "paper values not available here"
SWAPPED_NAMES_NOTE = (
    "The paper's Table 1 labels the columns the other way round: what it calls UA is the overall "
    "accuracy (WA here, class-frequency weighted) and what it calls WA is the mean per-class recall "
    "(UA here). Reference values are placed under the usual definitions."
)


def csa_system(context: int) -> str:
    return f"CSA-C{context}"


def paper_fusion_system(weight: float) -> str:
    return f"{FUSION}-w{weight:g}"


@dataclass(frozen=True)
class FusionSettings:
    """The ``fusion`` config section."""

    context: int | str = "best"
    weight_min: float = 0.0
    weight_max: float = 2.0
    weight_step: float = 0.05
    paper_weight: float = 0.4
    bootstrap: int = 2000
    select_metric: str = "ua"

    @classmethod
    def from_config(cls, section: dict) -> FusionSettings:
        return cls(**{key: section[key] for key in cls.__dataclass_fields__ if key in section})

    def weight_grid(self) -> np.ndarray:
        """weight_min, weight_min + step, … up to weight_max inclusive (rounded against float drift)."""
        steps = int(np.floor((self.weight_max - self.weight_min) / self.weight_step + 1e-9))
        return np.round(self.weight_min + self.weight_step * np.arange(steps + 1), 10)


# ---- posteriors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedPosteriors:
    """BLSTMATT and CSA posteriors on one split, aligned to BLSTMATT's utterance order.

    ``csa_logp`` rows are NaN where CSA left the utterance out (``kept`` False).
    """

    utt_ids: np.ndarray  # (N,)
    labels: np.ndarray  # (N,) class indices
    blstmatt_logp: np.ndarray  # (N, K)
    csa_logp: np.ndarray  # (N, K)

    @property
    def kept(self) -> np.ndarray:  # (N,) bool
        return np.isfinite(self.csa_logp).all(axis=1)


def normalise_log(logp: np.ndarray) -> np.ndarray:
    """Rows renormalised to log-probabilities (CSA's mean of chunk log-posteriors is not one)."""
    return logp - logsumexp(logp, axis=1, keepdims=True)


def pair_posteriors(blstmatt: pl.DataFrame, csa: pl.DataFrame, classes: list[str],
                    source: str) -> PairedPosteriors:
    """Align a CSA table to the BLSTMATT table of the same split (``source`` names them in errors)."""
    columns = logp_columns(classes)
    extra = set(csa["utt_id"]) - set(blstmatt["utt_id"])
    if extra:
        raise PredictionsError(
            f"{source}: CSA scored utterances BLSTMATT did not ({sorted(extra)[:5]}); both runs must "
            "use the same split — re-run training"
        )
    joined = blstmatt.join(csa.select("utt_id", pl.col("label").alias("csa_label"), *columns),
                           on="utt_id", how="left", suffix="_csa", maintain_order="left")
    disagree = joined.filter(pl.col("csa_label").is_not_null() & (pl.col("csa_label") != pl.col("label")))
    if disagree.height:
        raise PredictionsError(f"{source}: BLSTMATT and CSA labels differ for "
                               f"{disagree['utt_id'].head(5).to_list()}; re-run training")
    csa_logp = joined.select([f"{name}_csa" for name in columns]).to_numpy().astype(float)
    csa_logp[~np.isfinite(csa_logp).all(axis=1)] = np.nan
    kept = np.isfinite(csa_logp).all(axis=1)
    csa_logp[kept] = normalise_log(csa_logp[kept])
    return PairedPosteriors(
        utt_ids=joined["utt_id"].to_numpy(),
        labels=label_indices(joined["label"], classes),
        blstmatt_logp=normalise_log(joined.select(columns).to_numpy().astype(float)),
        csa_logp=csa_logp,
    )


def fuse(blstmatt_logp: np.ndarray, csa_logp: np.ndarray, weight: float) -> np.ndarray:
    """Log-linear fusion (module docstring): (N, K) log-posteriors; NaN CSA rows fall back."""
    kept = np.isfinite(csa_logp).all(axis=1, keepdims=True)  # (N, 1)
    combined = blstmatt_logp + weight * np.where(kept, csa_logp, 0.0)  # (N, K)
    return normalise_log(combined)


# ---- selection (validation only) ---------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    context: int
    context_source: str  # "validation" | "config"
    weight: float
    val_csa_score: float  # CSA alone, on the validation utterances it kept
    val_fusion_score: float  # fused, all validation utterances, at the chosen weight


def weight_curve(validation: dict[int, PairedPosteriors], grid: np.ndarray,
                 n_classes: int) -> pl.DataFrame:
    """Fused validation WA / UA for every (context, weight): the report's weight curve."""
    rows = []
    for context, pair in sorted(validation.items()):
        for weight in grid:
            preds = fuse(pair.blstmatt_logp, pair.csa_logp, weight).argmax(axis=1)
            rows.append({
                "context": context, "weight": float(weight),
                "val_wa": point_score(pair.labels, preds, n_classes, "wa"),
                "val_ua": point_score(pair.labels, preds, n_classes, "ua"),
                "n_val": int(pair.labels.size), "n_val_fallback": int((~pair.kept).sum()),
            })
    schema = {"context": pl.Int32, "weight": pl.Float64, "val_wa": pl.Float64,
              "val_ua": pl.Float64, "n_val": pl.Int32, "n_val_fallback": pl.Int32}
    return pl.DataFrame(rows, schema=schema, orient="row")


def select_fusion(validation: dict[int, PairedPosteriors], settings: FusionSettings,
                  n_classes: int) -> tuple[Selection, pl.DataFrame]:
    """Choose the CSA context and the weight from validation posteriors alone."""
    metric = settings.select_metric
    csa_scores = {}
    for context, pair in validation.items():
        kept = pair.kept
        csa_scores[context] = (
            point_score(pair.labels[kept], pair.csa_logp[kept].argmax(axis=1), n_classes, metric)
            if kept.any() else -np.inf
        )
    if settings.context == "best":
        # Highest score first, then the smaller context on ties.
        context = min(csa_scores, key=lambda c: (-csa_scores[c], c))
        source = "validation"
    else:
        context = int(settings.context)
        source = "config"
        if context not in validation:
            raise PredictionsError(f"fusion.context: {context} has no CSA run (csa.contexts "
                                   f"{sorted(validation)})")
    curve = weight_curve(validation, settings.weight_grid(), n_classes)
    chosen = curve.filter(pl.col("context") == context)
    best = chosen[f"val_{metric}"].max()
    weight = chosen.filter(pl.col(f"val_{metric}") == best)["weight"].min()
    curve = curve.with_columns(
        ((pl.col("context") == context) & (pl.col("weight") == weight)).alias("chosen"))
    selection = Selection(context=context, context_source=source, weight=float(weight),
                          val_csa_score=float(csa_scores[context]), val_fusion_score=float(best))
    return selection, curve


# ---- significance ------------------------------------------------------------------------------


def _resampled_score(labels: np.ndarray, preds: np.ndarray, n_classes: int, indices: np.ndarray,
                     metric: str) -> np.ndarray:
    """WA or UA on each resample: ``indices`` (R, n) -> (R,)."""
    confusions = metrics.batched_confusions(labels, preds, n_classes, indices)  # (R, K, K)
    return metrics.SUMMARY_METRICS[metric](confusions)


def compare_systems(labels: np.ndarray, preds_a: np.ndarray, preds_b: np.ndarray,
                    n_classes: int, n_resamples: int, seed: int) -> dict:
    """WA/UA differences (A − B) with paired-bootstrap CIs, and McNemar's exact test."""
    row = {"n": int(labels.size)}
    for name in ("wa", "ua"):
        def difference(indices: np.ndarray, name: str = name) -> np.ndarray:
            return (_resampled_score(labels, preds_a, n_classes, indices, name)
                    - _resampled_score(labels, preds_b, n_classes, indices, name))

        row[f"{name}_a"] = point_score(labels, preds_a, n_classes, name)
        row[f"{name}_b"] = point_score(labels, preds_b, n_classes, name)
        # Same seed for WA and UA: both differences come from the same resamples.
        result = paired_bootstrap_difference(difference, labels.size, n_resamples, seed,
                                             name=f"paired_bootstrap_{name}_difference")
        row[f"{name}_diff"] = result.statistic
        row[f"{name}_diff_ci_low"], row[f"{name}_diff_ci_high"] = result.ci_low, result.ci_high
        row[f"{name}_diff_pvalue"] = result.pvalue
    mcnemar = mcnemar_exact(preds_a == labels, preds_b == labels)
    row["mcnemar_only_a_correct"] = int(mcnemar.statistic)
    row["mcnemar_only_b_correct"] = int(((preds_a != labels) & (preds_b == labels)).sum())
    row["mcnemar_pvalue"] = mcnemar.pvalue
    return row


# ---- one (fold, seed) run ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunInputs:
    """Prediction tables of one (fold, seed): BLSTMATT and CSA per context, both splits."""

    fold: str
    seed: int
    blstmatt_val: pl.DataFrame
    blstmatt_test: pl.DataFrame
    csa_val: dict[int, pl.DataFrame]
    csa_test: dict[int, pl.DataFrame]


@dataclass(frozen=True)
class RunResult:
    selection: pl.DataFrame
    weight_curve: pl.DataFrame
    systems: pl.DataFrame
    significance: pl.DataFrame
    predictions: pl.DataFrame


def fuse_run(inputs: RunInputs, classes: list[str], settings: FusionSettings) -> RunResult:
    n_classes = len(classes)
    source = f"{inputs.fold} seed {inputs.seed}"
    validation = {
        context: pair_posteriors(inputs.blstmatt_val, table, classes, f"validation, C={context}, {source}")
        for context, table in inputs.csa_val.items()
    }
    selection, curve = select_fusion(validation, settings, n_classes)
    log.info("%s: CSA C=%d (%s), w=%.3g (validation %s %.3f)", source, selection.context,
             selection.context_source, selection.weight, settings.select_metric,
             selection.val_fusion_score)

    # Test data is read only from here on.
    test = pair_posteriors(inputs.blstmatt_test, inputs.csa_test[selection.context], classes,
                           f"test, C={selection.context}, {source}")
    systems = scored_systems(test, selection, settings)
    system_rows = score_systems(systems, test, inputs, classes, settings)
    significance_table = compare_pairs(systems, test, inputs, n_classes, settings)
    kept = test.kept

    fused = fuse(test.blstmatt_logp, test.csa_logp, selection.weight)
    predictions = prediction_frame(test.utt_ids, test.labels, fused, classes).select(
        pl.lit(inputs.fold).alias("fold"), pl.lit(inputs.seed).alias("seed"), pl.all(),
        pl.Series("fallback", ~kept))
    selection_row = pl.DataFrame([{
        "fold": inputs.fold, "seed": inputs.seed, "context": selection.context,
        "context_source": selection.context_source, "weight": selection.weight,
        "paper_weight": settings.paper_weight, "select_metric": settings.select_metric,
        "val_csa_score": selection.val_csa_score, "val_fusion_score": selection.val_fusion_score,
        "n_val": int(validation[selection.context].labels.size),
        "n_val_fallback": int((~validation[selection.context].kept).sum()),
        "n_test": int(test.labels.size), "n_test_fallback": int((~kept).sum()),
    }])
    curve = curve.with_columns(pl.lit(inputs.fold).alias("fold"),
                               pl.lit(inputs.seed, pl.Int32).alias("seed"))
    return RunResult(_int32(selection_row),
                     curve.select("fold", "seed", pl.exclude("fold", "seed")),
                     _int32(pl.DataFrame(system_rows, infer_schema_length=None)),
                     _int32(significance_table), _int32(predictions))


@dataclass(frozen=True)
class ScoredSystem:
    name: str
    role: str  # baseline | selected_csa | fusion_selected | fusion_paper_weight
    decisions: np.ndarray  # (N,) class indices on all test utterances; -1 where CSA has none
    context: int | None = None
    weight: float | None = None

    @property
    def needs_csa(self) -> bool:
        return self.role == "selected_csa"


def scored_systems(test: PairedPosteriors, selection: Selection,
                 settings: FusionSettings) -> list[ScoredSystem]:
    """The four systems scored on the test set: BLSTMATT, the selected CSA, SYSComb at the
    selected and at the paper's weight."""
    csa_decisions = np.where(test.kept, np.nan_to_num(test.csa_logp).argmax(axis=1), -1)
    context = selection.context
    return [
        ScoredSystem(BLSTMATT, "baseline", test.blstmatt_logp.argmax(axis=1)),
        ScoredSystem(csa_system(context), "selected_csa", csa_decisions, context),
        *(ScoredSystem(name, role, fuse(test.blstmatt_logp, test.csa_logp, weight).argmax(axis=1),
                       context, weight)
          for name, role, weight in (
              (FUSION, "fusion_selected", selection.weight),
              (paper_fusion_system(settings.paper_weight), "fusion_paper_weight",
               settings.paper_weight))),
    ]


def score_systems(systems: list[ScoredSystem], test: PairedPosteriors, inputs: RunInputs,
                  classes: list[str], settings: FusionSettings) -> list[dict]:
    """WA / UA / macro-F1 with CIs per system (CSA on the utterances it kept)."""
    kept = test.kept
    rows = []
    for system in systems:
        scored = kept if system.needs_csa else np.ones_like(kept)
        row = {"fold": inputs.fold, "seed": inputs.seed, "system": system.name, "role": system.role,
               "context": system.context, "weight": system.weight,
               "n_fallback": int((~kept).sum()) if system.role.startswith("fusion") else 0}
        row.update(score_decisions(test.labels[scored], system.decisions[scored], classes,
                                   settings.bootstrap, inputs.seed))
        rows.append(row)
    return rows


def compare_pairs(systems: list[ScoredSystem], test: PairedPosteriors, inputs: RunInputs,
                  n_classes: int, settings: FusionSettings) -> pl.DataFrame:
    """Significance of (CSA, BLSTMATT) and (each SYSComb, each single system), each pair on the
    utterances both scored; McNemar q-values (Benjamini–Hochberg) within the run."""
    baseline, csa, *fusions = systems
    rows = []
    for system_a, system_b in [(csa, baseline)] + [(f, s) for f in fusions for s in (baseline, csa)]:
        on_kept = system_a.needs_csa or system_b.needs_csa
        scored = test.kept if on_kept else np.ones_like(test.kept)
        row = {"fold": inputs.fold, "seed": inputs.seed, "system_a": system_a.name,
               "system_b": system_b.name, "utterances": "csa_kept" if on_kept else "all_test"}
        row.update(compare_systems(test.labels[scored], system_a.decisions[scored],
                                   system_b.decisions[scored], n_classes, settings.bootstrap,
                                   inputs.seed))
        rows.append(row)
    qvalues = benjamini_hochberg(np.array([row["mcnemar_pvalue"] for row in rows]))
    return pl.DataFrame(rows).with_columns(pl.Series("mcnemar_qvalue", qvalues))


INT32_COLUMNS = ("seed", "context", "n", "n_fallback", "n_val", "n_val_fallback", "n_test",
                 "n_test_fallback", "mcnemar_only_a_correct", "mcnemar_only_b_correct")


def _int32(table: pl.DataFrame) -> pl.DataFrame:
    """The documented integer columns as Int32 (Python ints would become Int64)."""
    return table.cast({name: pl.Int32 for name in INT32_COLUMNS if name in table.columns})


# ---- summaries and Table 1 ---------------------------------------------------------------------


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


def _across_runs(values: np.ndarray, ci_low: np.ndarray, ci_high: np.ndarray,
                 confidence: float = 0.95) -> tuple[float, float, float, str]:
    """One run: its bootstrap CI. Several: the mean with a t-interval over runs."""
    if values.size == 1:
        return float(values[0]), float(ci_low[0]), float(ci_high[0]), "bootstrap over test utterances"
    mean = float(values.mean())
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, values.size - 1)
                 * values.std(ddof=1) / np.sqrt(values.size))
    return mean, mean - half, mean + half, f"t-interval over {values.size} runs"


def build_table1(sweep: pl.DataFrame, systems: pl.DataFrame,
                 paper: dict[str, tuple[float, float]] | None = None) -> pl.DataFrame:
    """The paper's Table 1 rows: BLSTMATT, CSA per context (from the sweep), SYSComb at the selected
    and at the paper's weight — our WA / UA with 95 % CIs beside the paper's values (%)."""
    paper = PAPER_TABLE1 if paper is None else paper
    groups: list[tuple[str, int | None, float | None, pl.DataFrame]] = [
        (BLSTMATT, None, None, systems.filter(pl.col("role") == "baseline"))]
    for context in sorted(set(sweep["context"].to_list())):
        groups.append((csa_system(context), context, None,
                       sweep.filter(pl.col("context") == context)
                       .rename({"n_test_kept": "n"})))
    for role in ("fusion_selected", "fusion_paper_weight"):
        rows = systems.filter(pl.col("role") == role)
        weights, contexts = rows["weight"].unique().to_list(), rows["context"].unique().to_list()
        label = FUSION if role == "fusion_selected" else rows["system"][0]
        groups.append((label, contexts[0] if len(contexts) == 1 else None,
                       weights[0] if len(weights) == 1 else None, rows))
    table = []
    for system, context, weight, rows in groups:
        row = {"system": system, "context": context, "weight": weight, "n_runs": rows.height,
               "n_test_mean": float(rows["n"].mean())}
        for name in METRICS:
            value, low, high, kind = _across_runs(rows[name].to_numpy(),
                                                  rows[f"{name}_ci_low"].to_numpy(),
                                                  rows[f"{name}_ci_high"].to_numpy())
            row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = value, low, high
        row["ci_kind"] = kind
        reference = paper.get(system)
        row["paper_wa"] = reference[0] if reference else None
        row["paper_ua"] = reference[1] if reference else None
        row["paper_note"] = None if reference else PAPER_NOTE_MISSING
        table.append(row)
    schema = {"system": pl.String, "context": pl.Int32, "weight": pl.Float64, "n_runs": pl.Int32,
              "n_test_mean": pl.Float64,
              **{f"{name}{suffix}": pl.Float64 for name in METRICS
                 for suffix in ("", "_ci_low", "_ci_high")},
              "ci_kind": pl.String, "paper_wa": pl.Float64, "paper_ua": pl.Float64,
              "paper_note": pl.String}
    return pl.DataFrame(table, schema=schema, orient="row")


def _row_label(row: dict) -> str:
    """E.g. "BLSTMATT (variable context)", "CSA-C30", "SYSComb (C = 30, w = 0.45)"."""
    if row["system"] == BLSTMATT:
        return f"{BLSTMATT} (variable context)"
    if not row["system"].startswith(FUSION):
        return row["system"]
    details = [f"C = {row['context']}" if row["context"] is not None else "C per run"]
    details.append(f"w = {row['weight']:g}" if row["weight"] is not None else "w per run")
    return f"{row['system'].split('-w')[0]} ({', '.join(details)})"


def _cells(row: dict) -> list[str]:
    def percent(name: str) -> str:
        return (f"{100 * row[name]:.1f} [{100 * row[f'{name}_ci_low']:.1f}, "
                f"{100 * row[f'{name}_ci_high']:.1f}]")

    def reference(name: str) -> str:
        return "–" if row[name] is None else f"{row[name]:.2f}"

    return [_row_label(row), str(row["n_runs"]), f"{row['n_test_mean']:.0f}",
            percent("wa"), percent("ua"), reference("paper_wa"), reference("paper_ua")]


TABLE1_HEADER = ["System", "Runs", "Test utts", "WA % [95 % CI]", "UA % [95 % CI]",
                 "Paper WA %", "Paper UA %"]


def _table1_notes(table: pl.DataFrame) -> list[str]:
    notes = [SWAPPED_NAMES_NOTE,
             "WA = overall accuracy; UA = mean per-class recall. CSA rows are scored on the test "
             "utterances at least C frames long; the other rows on all test utterances (SYSComb "
             "falls back to BLSTMATT where CSA has no decision)."]
    notes += sorted(set(f"CI: {kind}." for kind in table["ci_kind"].to_list()))
    if table["paper_note"].drop_nulls().len():
        notes.append(f"Paper columns: {PAPER_NOTE_MISSING}.")
    return notes


def render_table1_markdown(table: pl.DataFrame) -> str:
    lines = ["| " + " | ".join(TABLE1_HEADER) + " |", "|" + "---|" * len(TABLE1_HEADER)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in table.iter_rows(named=True)]
    return "\n".join(lines + [""] + [f"- {note}" for note in _table1_notes(table)]) + "\n"


def render_table1_html(table: pl.DataFrame) -> str:
    """An HTML fragment (<table> with caption and notes) for the report."""
    head = "".join(f"<th>{html.escape(name)}</th>" for name in TABLE1_HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _cells(row)) + "</tr>"
        for row in table.iter_rows(named=True))
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in _table1_notes(table))
    return (f'<table class="table1"><caption>Table 1: BLSTMATT, CSA per context and SYSComb '
            f"(IEMOCAP-style 4 classes)</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>\n<ul class=\"table1-notes\">{notes}</ul>\n")


def weight_curve_chart(curve: pl.DataFrame, settings: FusionSettings):
    """Validation WA / UA against the fusion weight, one line per context (and run); the rules mark
    the selected weight(s) (solid) and the paper's (dashed)."""
    import altair as alt

    long = (curve.with_columns(run=pl.format("{} seed {}", "fold", "seed"))
            .unpivot(index=["run", "context", "weight", "chosen"], on=["val_wa", "val_ua"],
                     variable_name="metric", value_name="value")
            .with_columns(pl.col("metric").str.replace("val_", "").str.to_uppercase()))
    lines = alt.Chart(long).mark_line().encode(
        x=alt.X("weight:Q", title="fusion weight w"),
        y=alt.Y("value:Q", title="validation accuracy", scale=alt.Scale(zero=False)),
        color=alt.Color("context:N", title="CSA context C"),
        strokeDash=alt.StrokeDash("metric:N"),
        detail="run:N",
        tooltip=["run", "context", "metric", alt.Tooltip("weight:Q", format=".2f"),
                 alt.Tooltip("value:Q", format=".3f")],
    )
    chosen = alt.Chart(long.filter(pl.col("chosen"))).mark_rule(color="black").encode(
        x="weight:Q", tooltip=["run", "context", alt.Tooltip("weight:Q", title="selected w")])
    paper = alt.Chart(pl.DataFrame({"weight": [settings.paper_weight]})).mark_rule(
        color="gray", strokeDash=[4, 4]).encode(x="weight:Q")
    return (lines + chosen + paper).properties(
        width=520, height=260, title="Fusion weight on validation (solid rule: selected, dashed: paper)")


# ---- the stage ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FusionOutputs:
    selection: Path
    weight_curve: Path
    weight_curve_chart: Path
    systems: Path
    significance: Path
    significance_summary: Path
    predictions: Path
    table1: Path
    table1_markdown: Path
    table1_html: Path


def run_fusion(runs: list[RunInputs], sweep: pl.DataFrame, classes: list[str],
               settings: FusionSettings, outputs: FusionOutputs) -> pl.DataFrame:
    results = [fuse_run(run, classes, settings) for run in runs]

    def stacked(field: Callable[[RunResult], pl.DataFrame]) -> pl.DataFrame:
        return pl.concat([field(result) for result in results], how="vertical_relaxed")

    tables = {
        outputs.selection: stacked(lambda r: r.selection),
        outputs.weight_curve: stacked(lambda r: r.weight_curve),
        outputs.systems: stacked(lambda r: r.systems),
        outputs.significance: stacked(lambda r: r.significance),
        outputs.predictions: stacked(lambda r: r.predictions),
    }
    tables[outputs.significance_summary] = summarise_significance(tables[outputs.significance])
    table1 = build_table1(sweep, tables[outputs.systems])
    tables[outputs.table1] = table1
    for path, table in tables.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        table.write_parquet(path)
    Path(outputs.weight_curve_chart).write_text(
        weight_curve_chart(tables[outputs.weight_curve], settings).to_json())
    Path(outputs.table1_markdown).write_text(render_table1_markdown(table1))
    Path(outputs.table1_html).write_text(render_table1_html(table1))
    return table1


def load_run_inputs(fold: str, seed: int, blstmatt_dir: str | Path,
                    csa_dirs: dict[int, str | Path], classes: list[str]) -> RunInputs:
    """Read one (fold, seed)'s prediction tables from its training run folders."""
    blstmatt_dir = Path(blstmatt_dir)
    return RunInputs(
        fold=fold, seed=seed,
        blstmatt_val=read_predictions(blstmatt_dir / "val_predictions.parquet", classes),
        blstmatt_test=read_predictions(blstmatt_dir / "predictions.parquet", classes),
        csa_val={int(c): read_predictions(Path(d) / "val_predictions.parquet", classes)
                 for c, d in csa_dirs.items()},
        csa_test={int(c): read_predictions(Path(d) / "predictions.parquet", classes)
                  for c, d in csa_dirs.items()},
    )
