"""Where every result lives and what every system is called (torch-free: the rules import it).

Every path is built here, relative to a results folder (``root``, ``results`` by default). The rules
pass Snakemake wildcards as arguments (``run_dir("csa", "{fold}", "{seed}", "{context}")``); the
stages and the report pass real values. Folder and file names are documented in docs/outputs.md.

System names (one spelling everywhere: tables, charts, report, logs):

- ``BLSTMATT`` — the attention BLSTM (variable context);
- ``CSA-C<context>`` — CSA with chunk length C frames, e.g. ``CSA-C30`` (:func:`csa_system`);
- ``SYSComb`` — BLSTMATT + CSA fusion with the CSA context and weight chosen on validation;
- ``SYSComb-w<weight>`` — the same fusion at a fixed weight, e.g. ``SYSComb-w0.4`` (the paper's,
  :func:`syscomb_weight_system`);
- ``SYSComb+<system>`` — SYSComb with a further system (``fusion.systems``, e.g. a baseline) fused
  onto it, its weight again chosen on validation (:func:`syscomb_with`).

Scores are computed at one of two levels (:data:`LEVELS`): ``utterance`` (one decision per
utterance; every system) and ``chunk`` (one decision per C-frame chunk; CSA only).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

RESULTS = "results"

# ---- system names -------------------------------------------------------------------------------
BLSTMATT = "BLSTMATT"
CSA_PREFIX = "CSA-C"
SYSCOMB = "SYSComb"
SYSCOMB_WEIGHT_PREFIX = f"{SYSCOMB}-w"
SYSCOMB_WITH_PREFIX = f"{SYSCOMB}+"

MODELS = ("blstmatt", "csa")  # the trained models; their run folders live under train/<model>
LEVELS = ("utterance", "chunk")


def csa_system(context: int | str) -> str:
    """``CSA-C30`` for context 30 (a wildcard such as ``"{context}"`` passes through)."""
    return f"{CSA_PREFIX}{context}"


def syscomb_weight_system(weight: float) -> str:
    """``SYSComb-w0.4``: fusion at a fixed weight (``%g``, so 0.40 and 0.4 name one system)."""
    return f"{SYSCOMB_WEIGHT_PREFIX}{weight:g}"


_CSA_NAME = re.compile(rf"^{re.escape(CSA_PREFIX)}(\d+)$")


def syscomb_with(system: str) -> str:
    """``SYSComb+eGeMAPS-SVM``: SYSComb with a further system (``fusion.systems``) fused onto it."""
    return f"{SYSCOMB_WITH_PREFIX}{system}"


def csa_context(system: str) -> int | None:
    """The context of a ``CSA-C<context>`` name, None for any other system."""
    match = _CSA_NAME.match(system)
    return int(match.group(1)) if match else None


def paper_systems(contexts, paper_weight: float) -> list[str]:
    """Table 1's systems in table order: BLSTMATT, CSA-C<context> per context, SYSComb and
    SYSComb-w<paper weight> (the score stage scores these, plus any baseline)."""
    return [BLSTMATT, *(csa_system(int(context)) for context in contexts), SYSCOMB,
            syscomb_weight_system(float(paper_weight))]


def trained_system(model: str, context: int | str | None = None) -> str:
    """The system name of a training run: BLSTMATT, or CSA-C<context>."""
    if model == "blstmatt":
        return BLSTMATT
    if model == "csa":
        if context is None:
            raise ValueError("a CSA run needs its context C")
        return csa_system(context)
    raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")


# ---- helpers ------------------------------------------------------------------------------------
def _join(root: str, *parts: str) -> str:
    return str(PurePosixPath(root, *parts)) if root else str(PurePosixPath(*parts))


# ---- data stages --------------------------------------------------------------------------------
def corpus_table(session: str, root: str = RESULTS) -> str:
    return _join(root, "corpus", f"{session}.parquet")


def corpus_dropped(session: str, root: str = RESULTS) -> str:
    return _join(root, "corpus", f"{session}.dropped.parquet")


def corpus_manifest_rows(session: str, root: str = RESULTS) -> str:
    """A manifest corpus's rows of one session, written when the workflow is planned (H3)."""
    return _join(root, "corpus", "manifest", f"{session}.tsv")


def demo_summary(session: str, root: str = RESULTS) -> str:
    return _join(root, "demo", f"{session}.json")


def features_file(session: str, root: str = RESULTS) -> str:
    return _join(root, "features", f"{session}.npz")


def features_stats(session: str, root: str = RESULTS) -> str:
    return _join(root, "features", f"{session}.stats.parquet")


def align_intervals(session: str, root: str = RESULTS) -> str:
    return _join(root, "align", f"{session}.intervals.parquet")


# ---- training run folders -----------------------------------------------------------------------
# The files of a run folder, by role. train.smk declares them, emocue.train writes them, the sweep,
# scoring, fusion, attention and report stages read them.
RUN_FILES = {
    "model": "model.pt",
    "history": "history.parquet",
    "predictions": "predictions.parquet",  # test split, one row per utterance
    "val_predictions": "val_predictions.parquet",  # validation split
    "metrics": "metrics.json",  # run summary: epochs, utterance counts, left-out counts
    "attention": "attention.parquet",  # BLSTMATT only
    "chunk_predictions": "chunk_predictions.parquet",  # CSA only: one row per test chunk
}
RUN_FILES_ALL_MODELS = ("model", "history", "predictions", "val_predictions", "metrics")
RUN_FILES_OF_MODEL = {"blstmatt": "attention", "csa": "chunk_predictions"}
CHECKPOINT_FILE = "checkpoint.pt"  # kept after the run as its finished state (not an output)


def run_dir(model: str, fold: str, seed: int | str, context: int | str | None = None,
            root: str = RESULTS) -> str:
    """train/blstmatt/<fold>/seed<seed> or train/csa/C<context>/<fold>/seed<seed>."""
    if model == "blstmatt":
        return _join(root, "train", "blstmatt", fold, f"seed{seed}")
    if model == "csa":
        if context is None:
            raise ValueError("a CSA run folder needs its context C")
        return _join(root, "train", "csa", f"C{context}", fold, f"seed{seed}")
    raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")


def run_file(name: str, model: str, fold: str, seed: int | str, context: int | str | None = None,
             root: str = RESULTS) -> str:
    """One file of a run folder, by its RUN_FILES role."""
    return _join(run_dir(model, fold, seed, context, root), RUN_FILES[name])


def run_outputs(model: str, fold: str, seed: int | str, context: int | str | None = None,
                root: str = RESULTS) -> dict[str, str]:
    """Every output file of one run folder, by role (the train rules' ``output:``)."""
    names = (*RUN_FILES_ALL_MODELS, RUN_FILES_OF_MODEL[model])
    return {name: run_file(name, model, fold, seed, context, root) for name in names}


# ---- sweep, scoring, fusion, Table 1 ------------------------------------------------------------
SWEEP_OUTPUTS = {"sweep": "sweep/sweep.parquet", "summary": "sweep/sweep_summary.parquet"}

# One scoring job per system: its predictions -> per-run scores, per-seed pooled scores, the
# across-seed summary and the confusion counts (docs/outputs.md, "score").
SCORE_FILES = {
    "runs": "runs.parquet",
    "seeds": "seeds.parquet",
    "summary": "summary.parquet",
    "confusion": "confusion.parquet",
}

FUSION_OUTPUTS = {
    "selection": "fusion/selection.parquet",
    "weight_curve": "fusion/weight_curve.parquet",
    "weight_curve_chart": "fusion/weight_curve.vl.json",
    "predictions": "fusion/predictions.parquet",  # SYSComb, SYSComb-w<paper weight>, SYSComb+<system>, test
}

SIGNIFICANCE_OUTPUTS = {
    "pairs": "significance/pairs.parquet",  # per (fold, seed) and system pair
    "summary": "significance/summary.parquet",  # per system pair, across runs
    "seeds": "significance/seeds.parquet",  # per seed and system pair, folds pooled
}

TABLE1_OUTPUTS = {
    "table": "table1/table1.parquet",
    "published": "table1/published.parquet",
    "markdown": "table1/table1.md",
    "html": "table1/table1.html",
}


def score_dir(system: str, root: str = RESULTS) -> str:
    return _join(root, "score", system)


def score_file(name: str, system: str, root: str = RESULTS) -> str:
    """One file of a system's scoring folder, by its SCORE_FILES role."""
    return _join(score_dir(system, root), SCORE_FILES[name])


def score_outputs(system: str, root: str = RESULTS) -> dict[str, str]:
    return {name: score_file(name, system, root) for name in SCORE_FILES}


def stage_outputs(outputs: dict[str, str], root: str = RESULTS) -> dict[str, str]:
    """A stage's output tables (SWEEP_OUTPUTS, FUSION_OUTPUTS, SIGNIFICANCE_OUTPUTS, TABLE1_OUTPUTS)
    under ``root``."""
    return {name: _join(root, path) for name, path in outputs.items()}


# ---- attention ----------------------------------------------------------------------------------
def attention_dir(seed: int | str, root: str = RESULTS) -> str:
    return _join(root, "attention", f"seed{seed}")


# ---- speed perturbation, classical baseline (H6) ------------------------------------------------
def speed_features_file(session: str, tag: str, root: str = RESULTS) -> str:
    """Features of a speed-perturbed copy of a session, e.g. features/Session1.sp0.9.npz."""
    return _join(root, "features", f"{session}.{tag}.npz")


def speed_features_stats(session: str, tag: str, root: str = RESULTS) -> str:
    return _join(root, "features", f"{session}.{tag}.stats.parquet")


# eGeMAPS v02 functionals + a linear classifier (emocue.baseline); one system per classifier.
BASELINE_SYSTEMS = {"svm": "eGeMAPS-SVM", "logreg": "eGeMAPS-LR"}
BASELINE_FILES = {
    "predictions": "predictions.parquet",  # test split, same columns as a training run's
    "val_predictions": "val_predictions.parquet",
    "selection": "selection.parquet",  # validation score of every C tried; the chosen one marked
}


def baseline_functionals(session: str, root: str = RESULTS) -> str:
    """Per-utterance eGeMAPS v02 functionals of one session (88 features)."""
    return _join(root, "baseline", "functionals", f"{session}.parquet")


def baseline_run_dir(classifier: str, fold: str, seed: int | str, root: str = RESULTS) -> str:
    """baseline/<classifier>/<fold>/seed<seed> (the seed draws the validation split)."""
    return _join(root, "baseline", classifier, fold, f"seed{seed}")


def baseline_outputs(classifier: str, fold: str, seed: int | str, root: str = RESULTS) -> dict[str, str]:
    return {name: _join(baseline_run_dir(classifier, fold, seed, root), file)
            for name, file in BASELINE_FILES.items()}


# ---- interpretation and planted-cue validation (H5, issue 13) ----------------------------------
INTERPRET_RUN_FILES = {  # per trained run: emocue.validation.interpret_run
    "integrated_gradients": "integrated_gradients.parquet",
    "deletion": "deletion.parquet",
    "deletion_curve": "deletion_curve.parquet",
}
INTERPRET_OUTPUTS = {  # per corpus: emocue.validation.interpret_corpus
    name: f"interpret/{name}.parquet"
    for name in ("verdicts", "deletion_tests", "deletion_curve", "ig_tests", "agreement", "confounds")
}


def interpret_run_outputs(model: str, fold: str, seed: int | str, context: int | str | None = None,
                          root: str = RESULTS) -> dict[str, str]:
    """interpret/<model>/[C<context>/]<fold>/seed<seed>/<file> for one trained run."""
    folder = _join(root, "interpret", *run_dir(model, fold, seed, context, root="").split("/")[1:])
    return {name: _join(folder, file) for name, file in INTERPRET_RUN_FILES.items()}


def frame_covariates_file(session: str, root: str = RESULTS) -> str:
    return _join(root, "interpret", "covariates", f"{session}.parquet")


def validation_dir(cue: str, root: str = RESULTS) -> str:
    """validation/<cue>: the planted-cue corpus's own workflow folder (config.yaml + results/)."""
    return _join(root, "validation", cue)


def validation_config_file(cue: str, root: str = RESULTS) -> str:
    return _join(validation_dir(cue, root), "config.yaml")


def validation_outputs(cue: str, root: str = RESULTS) -> dict[str, str]:
    """The interpret tables of one planted-cue corpus (its workflow's results/interpret/...)."""
    return stage_outputs(INTERPRET_OUTPUTS, _join(validation_dir(cue, root), RESULTS))


VALIDATION_SUMMARY = "validation/summary.parquet"


# ---- hyper-parameter search on validation (H6, emocue.hparam) ------------------------------------
def hparam_dir(fold: str, root: str = RESULTS) -> str:
    return _join(root, "hparam", "blstmatt", fold)


def hparam_point_outputs(fold: str, point: str, root: str = RESULTS) -> dict[str, str]:
    """A grid point's training run (a run folder like train/blstmatt/...; only its validation
    curve, history.parquet, is read by the selection)."""
    point_dir = _join(hparam_dir(fold, root), point)
    return {name: _join(point_dir, RUN_FILES[name]) for name in (*RUN_FILES_ALL_MODELS, RUN_FILES_OF_MODEL["blstmatt"])}


HPARAM_FILES = {"search": "search.parquet", "chosen": "chosen.json"}


def hparam_outputs(fold: str, root: str = RESULTS) -> dict[str, str]:
    """The fold's search table (every point's validation score) and the chosen point."""
    return {name: _join(hparam_dir(fold, root), file) for name, file in HPARAM_FILES.items()}
