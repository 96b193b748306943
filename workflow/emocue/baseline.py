"""The classical baseline: eGeMAPS v02 functionals + a linear classifier (``baseline`` config section).

Features (rule ``baseline_functionals``, one job per session): the 88 eGeMAPS v02 functionals
(Eyben et al., IEEE Trans. Affective Computing 2016) of every manifest utterance, computed by
openSMILE (PyPI ``opensmile``, which ships the extractor) on the same mono 16 kHz waveform the
filterbank stage reads (``features.load_waveform``). Utterances too short for a functional get
NaN there; they are counted in the log and the value is replaced by the training mean (0 after
normalisation) when classifying.

Classifiers (rule ``baseline_classifier``, one job per (classifier, fold, seed)):

* the fold's train / validation / test split is the one the neural models use
  (``emocue.split.split_tables`` on the manifests, same seed, same utterance order), so the
  baseline is compared on exactly the same test utterances and tuned on the same validation;
* features are normalised as ``features.normalisation`` says, by the filterbank stage's own rule
  (``features.normalise`` with a ``features.speaker_stats``-style table, each utterance a
  one-frame matrix): per
  speaker z-scores from that speaker's audio only; ``utterance`` has no meaning for one vector
  per utterance and is treated as ``none``. Then every feature is standardised with the training
  split's mean and s.d. (scikit-learn ``StandardScaler``, fitted on training only);
* ``svm``: ``LinearSVC`` (one-vs-rest, squared hinge); its decision values pass through a
  log-softmax as ``logp_<class>`` (their argmax is the SVM's decision). ``logreg``: multinomial
  ``LogisticRegression``, its log-probabilities. The regularisation C is chosen from
  ``baseline.c_grid`` by the validation ``train.select_metric`` (UA by default; ties: the smaller
  C), then the model fitted on the training split predicts validation and test. The test split is
  never looked at before its predictions are written.

Outputs per run (docs/outputs.md, "baseline"): predictions.parquet and val_predictions.parquet in
the training runs' format (``scoring.prediction_frame``), selection.parquet (C, validation score,
chosen).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from emocue.features import STATS_SCHEMA, FeatureSet, load_waveform, normalise
from emocue.scoring import label_indices, point_score, prediction_frame
from emocue.split import SplitSettings, split_tables

log = logging.getLogger(__name__)

FEATURE_SET = "eGeMAPSv02"
ID_COLUMNS = ("utt_id", "speaker")


# ---- features ---------------------------------------------------------------------------------
def smile_extractor():
    import opensmile

    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                           feature_level=opensmile.FeatureLevel.Functionals)


def write_session_functionals(manifest_path: str | Path, out_path: str | Path, sample_rate: int = 16000) -> pl.DataFrame:
    """Rule baseline_functionals: utt_id, speaker and the 88 functionals of every manifest utterance."""
    manifest = pl.read_parquet(manifest_path, columns=["utt_id", "speaker", "audio_path"])
    smile = smile_extractor()
    started = time.perf_counter()
    rows = np.full((manifest.height, len(smile.feature_names)), np.nan)
    for i, path in enumerate(manifest["audio_path"].to_list()):
        rows[i] = smile(load_waveform(path, sample_rate), sample_rate).reshape(-1)  # (1, 88, 1) -> (88,)
    missing = manifest.filter(pl.Series(~np.isfinite(rows).all(axis=1)))["utt_id"].to_list()
    log.info("%d utterances, %d functionals each in %.1f s; %d with missing values (too short): %s",
             manifest.height, rows.shape[1], time.perf_counter() - started, len(missing), missing[:20])
    table = pl.concat([manifest.select(ID_COLUMNS),
                       pl.DataFrame(rows, schema=list(smile.feature_names), orient="row")], how="horizontal")
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    table.write_parquet(out_path)
    return table


def normalised_functionals(table: pl.DataFrame, mode: str) -> np.ndarray:
    """(U, 88) functionals normalised by ``features.normalisation`` (utterance -> none, see above);
    each utterance is a one-frame matrix for ``features.normalise``, missing values stay NaN."""
    values = table.drop(ID_COLUMNS).to_numpy().astype(np.float32)
    if mode != "speaker":
        return values
    as_frames = FeatureSet(table["utt_id"].to_numpy().astype(str), np.arange(table.height + 1), values)
    speaker_of = dict(table.select(ID_COLUMNS).iter_rows())
    return normalise(as_frames, mode, speaker_stats_ignoring_missing(table), speaker_of).feats


def speaker_stats_ignoring_missing(table: pl.DataFrame) -> pl.DataFrame:
    """``features.speaker_stats`` (same table) of the functionals, NaN left out of mean and variance."""
    rows = []
    for speaker, group in table.group_by("speaker", maintain_order=True):
        values = group.drop(ID_COLUMNS).to_numpy().astype(np.float64)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a functional missing for the whole speaker
            mean, var = np.nanmean(values, axis=0), np.nanvar(values, axis=0)
        rows.append((speaker[0], group.height, np.nan_to_num(mean).tolist(), np.nan_to_num(var, nan=1.0).tolist()))
    return pl.DataFrame(rows, schema=STATS_SCHEMA, orient="row")


# ---- classifiers ------------------------------------------------------------------------------
def make_classifier(name: str, c: float, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if name == "svm":
        model = LinearSVC(C=c, max_iter=20000, random_state=seed)
    elif name == "logreg":
        model = LogisticRegression(C=c, max_iter=5000, random_state=seed)
    else:
        raise ValueError(f"baseline.classifiers: unknown classifier {name!r}; expected svm or logreg")
    return make_pipeline(StandardScaler(), model)


def fit(name: str, c: float, seed: int, x: np.ndarray, y: np.ndarray):
    """The classifier fitted on (x, y); a solver's iteration limit is reported, not fatal."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model = make_classifier(name, c, seed).fit(x, y)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        log.warning("%s C=%g: the solver stopped at its iteration limit before converging", name, c)
    return model


def log_posteriors(model, x: np.ndarray, name: str, n_classes: int) -> np.ndarray:
    """(N, K) log-posteriors over all K classes (a class absent from training gets −inf)."""
    from scipy.special import log_softmax

    scores = log_softmax(model.decision_function(x), axis=1) if name == "svm" else model.predict_log_proba(x)
    full = np.full((len(x), n_classes), -np.inf)
    full[:, model.classes_] = scores
    return full


def validation_score(labels: np.ndarray, logp: np.ndarray, n_classes: int, metric: str) -> float:
    if metric == "loss":
        return float(np.mean(logp[np.arange(len(labels)), labels]))  # −cross-entropy
    return point_score(labels, logp.argmax(axis=1), n_classes, metric)


def run_baseline(classifier: str, fold: str, seed: int, manifests: Sequence[str], functionals: Sequence[str],
                 outputs: dict[str, str | Path], config: dict[str, Any]) -> pl.DataFrame:
    """Rule baseline_classifier: choose C on validation, then write val / test predictions."""
    classes = list(config["corpus"]["classes"])
    metric = config["train"]["select_metric"]
    table = (pl.concat([pl.read_parquet(m, columns=["utt_id", "speaker", "session", "label"]) for m in manifests])
             .filter(pl.col("label").is_in(classes)).sort("utt_id"))  # the training stage's order
    features = pl.concat([pl.read_parquet(path) for path in functionals])
    missing = sorted(set(table["utt_id"]) - set(features["utt_id"]))
    if missing:
        raise ValueError(f"{list(functionals)} have no functionals for {len(missing)} manifest utterances "
                         f"(e.g. {missing[:3]}); rerun `snakemake baseline`")
    features = table.select("utt_id").join(features, on="utt_id", how="left")
    x_all = normalised_functionals(features, config["features"]["normalisation"])
    row_of = {u: i for i, u in enumerate(features["utt_id"].to_list())}
    parts = split_tables(table, fold, SplitSettings.from_config(config), seed)
    x = {name: x_all[[row_of[u] for u in part["utt_id"].to_list()]] for name, part in parts.items()}
    train_mean = np.nanmean(x["train"], axis=0)
    x = {name: np.where(np.isfinite(v), v, np.nan_to_num(train_mean)) for name, v in x.items()}
    y = {name: label_indices(part["label"], classes) for name, part in parts.items()}

    rows = []
    for c in config["baseline"]["c_grid"]:
        model = fit(classifier, float(c), seed, x["train"], y["train"])
        score = validation_score(y["val"], log_posteriors(model, x["val"], classifier, len(classes)),
                                 len(classes), metric)
        rows.append({"c": float(c), "val_score": score})
        log.info("%s C=%g: validation %s %.4f", classifier, c, metric, score)
    best = max(range(len(rows)), key=lambda i: (rows[i]["val_score"], -rows[i]["c"]))  # ties: smaller C
    chosen = float(rows[best]["c"])
    model = fit(classifier, chosen, seed, x["train"], y["train"])
    for name, output in (("val", "val_predictions"), ("test", "predictions")):
        Path(outputs[output]).parent.mkdir(parents=True, exist_ok=True)
        prediction_frame(parts[name]["utt_id"].to_list(), y[name],
                         log_posteriors(model, x[name], classifier, len(classes)),
                         classes).write_parquet(outputs[output])
    selection = pl.DataFrame(rows).with_columns(
        classifier=pl.lit(classifier), fold=pl.lit(fold), seed=pl.lit(seed, dtype=pl.Int64),
        metric=pl.lit(metric), chosen=pl.col("c") == chosen,
    ).select("classifier", "fold", "seed", "c", "metric", "val_score", "chosen")
    selection.write_parquet(outputs["selection"])
    log.info("%s fold %s seed %d: C = %g chosen on validation (%d train, %d val, %d test utterances)",
             classifier, fold, seed, chosen, len(y["train"]), len(y["val"]), len(y["test"]))
    return selection
