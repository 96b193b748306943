"""System combination (the paper's SYSComb).

Fusion (paper §4, "CSA posteriors scaled by 0.4 and multiplied"): per test utterance

    log p(k) = log p_BLSTMATT(k) + w · log p_CSA(k) − log Σ_j exp(log p_BLSTMATT(j) + w · log p_CSA(j))

Multiplying posteriors by a constant would change no decision, so the weight is an exponent
(log-linear fusion). w = 0 is BLSTMATT alone; as w grows the decision tends to CSA's. Utterances
CSA left out (shorter than its context C) fall back to BLSTMATT alone and are counted.

Selection uses the validation split only: the CSA context is the one whose own validation score
(``fusion.select_metric``, UA by default) is best — or ``fusion.context`` from config — and w is
the grid point (``weight_min`` … ``weight_max`` step ``weight_step``) with the best fused
validation score; ties go to the smaller context / smaller w. :func:`select_fusion` takes no test
data at all. The paper's w (``paper_weight``) is always reported beside the selected one. Each
further system of ``fusion.systems`` (e.g. the eGeMAPS baseline) is then fused onto SYSComb the
same way, log p = log p_SYSComb + w' · log p_other, w' on the same grid chosen on validation
(:func:`select_other_weight`), giving ``SYSComb+<system>``.

The fused test predictions (SYSComb at the selected weight, ``SYSComb-w<paper_weight>`` and each
``SYSComb+<system>``) go to the score stage like every other system's, and to the significance
stage (:mod:`emocue.significance`); Table 1 is built by :mod:`emocue.table1`. Nothing here reads
the ``evaluation`` section: fusion's choices use validation alone, so scoring settings never rerun it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl
from scipy.special import logsumexp

from emocue import layout
from emocue.config import section_defaults
from emocue.scoring import (
    PredictionsError,
    label_indices,
    logp_columns,
    point_score,
    prediction_frame,
    read_predictions,
)

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class FusionSettings:
    """The ``fusion`` config section."""

    context: int | str
    weight_min: float
    weight_max: float
    weight_step: float
    paper_weight: float
    select_metric: str
    systems: tuple[str, ...]  # further systems (e.g. a baseline) fused onto SYSComb

    @classmethod
    def from_config(cls, section: dict) -> FusionSettings:
        values = {key: section[key] for key in cls.__dataclass_fields__}
        return cls(**values | {"systems": tuple(values["systems"])})

    @classmethod
    def defaults(cls, **overrides) -> FusionSettings:
        """The schema's ``fusion`` defaults (their one place), with ``overrides``."""
        return replace(cls.from_config(section_defaults("fusion")), **overrides)

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
                    source: str, other: str = "CSA") -> PairedPosteriors:
    """Align a CSA table (or ``other`` system's) to the BLSTMATT table of the same split
    (``source`` names them in errors)."""
    columns = logp_columns(classes)
    extra = set(csa["utt_id"]) - set(blstmatt["utt_id"])
    if extra:
        raise PredictionsError(
            f"{source}: {other} scored utterances BLSTMATT did not ({sorted(extra)[:5]}); both runs "
            "must use the same split — re-run them"
        )
    joined = blstmatt.join(csa.select("utt_id", pl.col("label").alias("csa_label"), *columns),
                           on="utt_id", how="left", suffix="_csa", maintain_order="left")
    disagree = joined.filter(pl.col("csa_label").is_not_null() & (pl.col("csa_label") != pl.col("label")))
    if disagree.height:
        raise PredictionsError(f"{source}: BLSTMATT and {other} labels differ for "
                               f"{disagree['utt_id'].head(5).to_list()}; re-run them")
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
    # Other systems (baselines), by name: compared with the others; fusion.systems also fused.
    others_val: dict[str, pl.DataFrame] = field(default_factory=dict)
    others_test: dict[str, pl.DataFrame] = field(default_factory=dict)


def select_other_weight(fused: np.ndarray, other: np.ndarray, labels: np.ndarray,
                        settings: FusionSettings, n_classes: int) -> tuple[float, float]:
    """The grid weight of a further system fused onto SYSComb, from validation alone: the best
    ``select_metric`` of fuse(SYSComb, other, w), ties to the smaller w. Returns (w, score)."""
    grid = settings.weight_grid()
    scores = [point_score(labels, fuse(fused, other, weight).argmax(axis=1), n_classes,
                          settings.select_metric) for weight in grid]
    best = int(np.argmax(scores))  # the first maximum: the smallest w
    return float(grid[best]), float(scores[best])


@dataclass(frozen=True)
class RunResult:
    selection: pl.DataFrame
    weight_curve: pl.DataFrame
    predictions: pl.DataFrame


def fuse_run(inputs: RunInputs, classes: list[str], settings: FusionSettings) -> RunResult:
    n_classes = len(classes)
    source = f"{inputs.fold} seed {inputs.seed}"
    validation = {
        context: pair_posteriors(inputs.blstmatt_val, table, classes, f"validation, C={context}, {source}")
        for context, table in inputs.csa_val.items()
    }
    selection, curve = select_fusion(validation, settings, n_classes)
    log.info("%s: CSA context C = %d (%s), w = %.3g (validation %s %.3f)", source, selection.context,
             selection.context_source, selection.weight, settings.select_metric,
             selection.val_fusion_score)

    # Further systems (fusion.systems) are fused onto SYSComb, their weights again on validation.
    chosen = validation[selection.context]
    fused_val = fuse(chosen.blstmatt_logp, chosen.csa_logp, selection.weight)
    other_weights = {}
    missing = sorted(set(settings.systems) - set(inputs.others_val))
    if missing:
        raise ValueError(f"fusion.systems {missing} have no predictions here (systems: "
                         f"{sorted(inputs.others_val)})")
    for name in settings.systems:
        other = pair_posteriors(inputs.blstmatt_val, inputs.others_val[name], classes,
                                f"validation, {name}, {source}", other=name).csa_logp
        other_weights[name] = select_other_weight(fused_val, other, chosen.labels, settings, n_classes)
        log.info("%s: %s onto SYSComb, w = %.3g (validation %s %.3f)", source, name,
                 *other_weights[name], settings.select_metric)

    # Test data is read only from here on.
    test = pair_posteriors(inputs.blstmatt_test, inputs.csa_test[selection.context], classes,
                           f"test, C={selection.context}, {source}")
    others_test = {name: pair_posteriors(inputs.blstmatt_test, inputs.others_test[name], classes,
                                         f"test, {name}, {source}", other=name).csa_logp
                   for name in other_weights}
    systems = fused_systems(test, selection, settings, others_test,
                            {name: weight for name, (weight, _) in other_weights.items()})
    kept = test.kept
    predictions = pl.concat([
        prediction_frame(test.utt_ids, test.labels, system.logp, classes).select(
            pl.lit(system.name).alias("system"), pl.lit(inputs.fold).alias("fold"),
            pl.lit(inputs.seed).alias("seed"), pl.lit(system.context).alias("context"),
            pl.lit(system.weight).alias("weight"), pl.all(), pl.Series("fallback", ~kept))
        for system in systems])
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
                     _int32(predictions))


@dataclass(frozen=True)
class ScoredSystem:
    """One system's test log-posteriors: a fused one (made here) or one the significance stage read."""

    name: str
    role: str  # blstmatt | selected_csa | fusion_selected | fusion_paper_weight | other | fusion_other
    logp: np.ndarray  # (N, K) on all test utterances; NaN rows where the system has no decision
    context: int | None = None
    weight: float | None = None  # fused systems: the weight of the system added last

    @property
    def kept(self) -> np.ndarray:  # (N,) bool
        return np.isfinite(self.logp).all(axis=1)

    @property
    def decisions(self) -> np.ndarray:  # (N,) class indices; -1 where there is no decision
        return np.where(self.kept, np.nan_to_num(self.logp, nan=-np.inf).argmax(axis=1), -1)


def fused_systems(test: PairedPosteriors, selection: Selection, settings: FusionSettings,
                  others: dict[str, np.ndarray], other_weights: dict[str, float]) -> list[ScoredSystem]:
    """The fused test systems: SYSComb at the selected and at the paper's weight, then
    SYSComb+<system> for each of fusion.systems (``others``: its test log-posteriors,
    ``other_weights``: its weight chosen on validation)."""
    context = selection.context
    syscomb = fuse(test.blstmatt_logp, test.csa_logp, selection.weight)
    return [
        ScoredSystem(layout.SYSCOMB, "fusion_selected", syscomb, context, selection.weight),
        ScoredSystem(layout.syscomb_weight_system(settings.paper_weight), "fusion_paper_weight",
                     fuse(test.blstmatt_logp, test.csa_logp, settings.paper_weight), context,
                     settings.paper_weight),
        *(ScoredSystem(layout.syscomb_with(name), "fusion_other", fuse(syscomb, logp, other_weights[name]),
                       context, other_weights[name]) for name, logp in others.items()),
    ]


INT32_COLUMNS = ("seed", "context", "n_val", "n_val_fallback", "n_test", "n_test_fallback")


def _int32(table: pl.DataFrame) -> pl.DataFrame:
    """The documented integer columns as Int32 (Python ints would become Int64)."""
    return table.cast({name: pl.Int32 for name in INT32_COLUMNS if name in table.columns})


# ---- the weight curve --------------------------------------------------------------------------
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
    """The stage's files, by their ``layout.FUSION_OUTPUTS`` roles."""

    selection: Path
    weight_curve: Path
    weight_curve_chart: Path
    predictions: Path


def run_fusion(runs: list[RunInputs], classes: list[str], settings: FusionSettings,
               outputs: FusionOutputs) -> pl.DataFrame:
    """Fuse every (fold, seed) and write the stage's tables; returns the selection table."""
    results = [fuse_run(run, classes, settings) for run in runs]

    def stacked(field: Callable[[RunResult], pl.DataFrame]) -> pl.DataFrame:
        return pl.concat([field(result) for result in results], how="vertical_relaxed")

    tables = {
        outputs.selection: stacked(lambda r: r.selection),
        outputs.weight_curve: stacked(lambda r: r.weight_curve),
        outputs.predictions: stacked(lambda r: r.predictions),
    }
    for path, table in tables.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        table.write_parquet(path)
    Path(outputs.weight_curve_chart).write_text(
        weight_curve_chart(tables[outputs.weight_curve], settings).to_json())
    return tables[outputs.selection]


TEST_PREDICTIONS = layout.RUN_FILES["predictions"]
VAL_PREDICTIONS = layout.RUN_FILES["val_predictions"]


def load_run_inputs(fold: str, seed: int, blstmatt_dir: str | Path,
                    csa_dirs: dict[int, str | Path], classes: list[str],
                    others: dict[str, dict[str, str | Path]] | None = None) -> RunInputs:
    """Read one (fold, seed)'s prediction tables from its training run folders; ``others`` maps
    another system (a baseline) to its ``val`` and ``test`` prediction files."""
    blstmatt_dir = Path(blstmatt_dir)
    others = others or {}
    return RunInputs(
        fold=fold, seed=seed,
        blstmatt_val=read_predictions(blstmatt_dir / VAL_PREDICTIONS, classes),
        blstmatt_test=read_predictions(blstmatt_dir / TEST_PREDICTIONS, classes),
        csa_val={int(c): read_predictions(Path(d) / VAL_PREDICTIONS, classes)
                 for c, d in csa_dirs.items()},
        csa_test={int(c): read_predictions(Path(d) / TEST_PREDICTIONS, classes)
                  for c, d in csa_dirs.items()},
        others_val={name: read_predictions(files["val"], classes) for name, files in others.items()},
        others_test={name: read_predictions(files["test"], classes) for name, files in others.items()},
    )
