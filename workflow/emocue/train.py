"""Training jobs: one (model, fold, seed[, context C]) run from manifests + features to predictions.

A run reads every session's manifest and features, normalises the features
(``features.normalisation``), splits utterances into train / validation / test (``emocue.split``: the
fold's test session or speaker is test; validation is a seeded part of the rest holding every
class, speaker-disjoint by default, so the test data is never used for any choice), then trains
with Adam, ReduceLROnPlateau on the validation loss and early stopping on ``train.select_metric``
(validation UA by default), keeping the weights of the best epoch. Augmentation and loss weights
(``emocue.augment``) act on training batches only.

Robustness (``emocue.checkpoint``): a checkpoint (model, optimiser, scheduler, history, best
weights) is written atomically after every epoch; a rerun with the same settings and data resumes
from it, an unreadable one is moved aside. Randomness is derived from (seed, epoch), so a resumed
run follows exactly the path an uninterrupted one would (on CPU). When training ends the
checkpoint becomes the run's finished state and stays, so a job killed while or after writing its
outputs is finished by the rerun without training again. A NaN validation loss stops the run.

Speed: length-bucketed batches (whole utterances of similar length) for BLSTMATT; CSA chunks all
have C frames and live on the device for the whole run (``emocue.batches``). On CUDA: bf16
autocast (the LSTMs stay float32, see ``emocue.models.blstmatt``), pinned host memory, and no host
synchronisation inside the epoch (losses are summed on the device and read once per epoch).

Outputs (see docs/outputs.md, "train"): model.pt, history.parquet, predictions.parquet,
val_predictions.parquet, metrics.json, attention.parquet (BLSTMATT), chunk_predictions.parquet (CSA).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from torch import nn

from emocue import augment, layout
from emocue import metrics as emocue_metrics
from emocue.config import training_sessions
from emocue.batches import make_data, resolve_device, to_device
from emocue.checkpoint import fingerprint, read_checkpoint, save_atomically
from emocue.features import load_features, normalise
from emocue.models import TrainedModel, build_model, model_config
from emocue.split import Split, SplitSettings, composition, make_splits
from emocue.scoring import METRICS, logp_columns, point_score, prediction_frame

log = logging.getLogger("emocue.train")

SPLITS = ("train", "val", "test")
OUTPUT_FILES = layout.RUN_FILES  # the run folder's file names, by role (train.smk uses the same)
CHECKPOINT_FILE = layout.CHECKPOINT_FILE


# ---- data ------------------------------------------------------------------------------------
def load_utterances(manifests: Sequence[str | Path], features: Sequence[str | Path],
                    stats: Sequence[str | Path], classes: Sequence[str],
                    normalisation: str) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """All sessions' manifests (utt_id, speaker, session, label, y) sorted by utt_id, and the
    normalised (``features.normalisation``) feature matrix of every utterance.

    Utterances are keyed by utt_id across all sessions, so an id used twice is refused (it would
    make one utterance's features stand for the other's); so are non-finite feature values.
    """
    class_index = {name: i for i, name in enumerate(classes)}
    tables, matrices = [], {}
    for manifest_path, feature_path, stats_path in zip(manifests, features, stats, strict=True):
        table = pl.read_parquet(manifest_path, columns=["utt_id", "speaker", "session", "label"])
        unknown = sorted(set(table["label"].to_list()) - set(class_index))
        if unknown:
            raise ValueError(f"{manifest_path}: labels {unknown} are not in corpus.classes {list(classes)}; "
                             "fix corpus.label_map / corpus.classes and rerun the corpus stage")
        feature_set = load_features(feature_path)
        index = feature_set.index()
        missing = [u for u in table["utt_id"].to_list() if u not in index]
        if missing:
            raise ValueError(f"{feature_path} has no features for {len(missing)} utterances of "
                             f"{manifest_path} (e.g. {missing[:3]}); rerun `snakemake features`")
        speaker_of = dict(table.select("utt_id", "speaker").iter_rows())
        try:
            feature_set = normalise(feature_set, normalisation, pl.read_parquet(stats_path), speaker_of)
        except KeyError as error:
            raise ValueError(f"{feature_path} / {stats_path} do not match {manifest_path}: {error}; "
                             "rerun `snakemake features`") from error
        offsets = feature_set.offsets
        bad_frames = np.flatnonzero(~np.isfinite(feature_set.feats).all(axis=1))
        if len(bad_frames):
            bad = sorted(set(feature_set.utt_ids[np.searchsorted(offsets, bad_frames, side="right") - 1].tolist()))
            raise ValueError(f"{feature_path}: {len(bad)} utterances have NaN or infinite feature values "
                             f"(e.g. {bad[:3]}); check their audio and rerun `snakemake features`")
        for utt_id in table["utt_id"].to_list():
            matrices[utt_id] = feature_set.feats[offsets[index[utt_id]]: offsets[index[utt_id] + 1]]
        tables.append(table)
    table = pl.concat(tables)
    duplicated = (table.filter(pl.col("utt_id").is_duplicated())
                  .group_by("utt_id", maintain_order=True).agg(pl.col("session").cast(pl.String)))
    if duplicated.height:
        listed = "; ".join(f"{utt_id} in {', '.join(sessions)}" for utt_id, sessions in duplicated.iter_rows())
        raise ValueError(f"{duplicated.height} utt_id values occur more than once in the manifests "
                         f"{[str(m) for m in manifests]}: {listed}. Training keys utterances by utt_id, so "
                         "one would stand for the other (test audio could be trained on); give every "
                         "utterance its own utt_id in the corpus and rerun the corpus stage")
    table = table.sort("utt_id")
    table = table.with_columns(y=pl.col("label").replace_strict(class_index, return_dtype=pl.Int64))
    return table, matrices


# ---- one epoch, evaluation --------------------------------------------------------------------
AUTOCAST_DTYPE = torch.bfloat16  # bf16 needs no GradScaler; the LSTMs stay float32 (models.blstmatt)


def autocast(device: torch.device):
    """The mixed-precision region of training and evaluation: bf16 autocast on CUDA, none on the CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=AUTOCAST_DTYPE)
    return contextlib.nullcontext()


def train_epoch(model: nn.Module, data, optimizer: torch.optim.Optimizer, rng: np.random.Generator,
                device: torch.device, class_weights: torch.Tensor | None = None,
                spec_augment: augment.SpecAugment | None = None) -> float:
    """One pass over the training data; ``class_weights`` (K,) and ``spec_augment`` act here only."""
    model.train()
    loss_sum = torch.zeros((), device=device)  # summed on the device: no per-step host sync
    for batch in data.batches(rng):
        features, *rest = batch.inputs
        if spec_augment is not None:
            features = spec_augment(features)
        with autocast(device):
            logits = model(features, *rest).logits
        loss = F.cross_entropy(logits.float(), batch.targets, weight=class_weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(batch.items)
    return float(loss_sum) / len(data)


@dataclass
class Evaluation:
    loss: float  # mean cross-entropy over items (utterances or chunks)
    item_logp: np.ndarray  # (N_items, K) log-posteriors
    utterance_logp: np.ndarray  # (U_kept, K): mean of the utterance's item log-posteriors
    kept: np.ndarray  # (U_kept,) indices into the split of the utterances with items
    attention: list[np.ndarray] | None = None  # BLSTMATT: α over the valid frames of each utterance


@torch.no_grad()
def evaluate(model: nn.Module, data, device: torch.device, with_attention: bool = False) -> Evaluation:
    model.eval()
    logps, alphas, orders = [], [], []
    loss_sum = torch.zeros((), device=device)
    for batch in data.batches():
        with autocast(device):
            output = model(*batch.inputs)
        logp = output.log_posteriors()  # (B, K)
        loss_sum += F.nll_loss(logp, batch.targets, reduction="sum")
        logps.append(logp)
        orders.append(batch.items)
        if with_attention:
            alphas.append(output.attention.float())
    order = np.concatenate(orders)
    item_logp = np.empty((len(order), logps[0].shape[1]), np.float64)
    item_logp[order] = torch.cat(logps).cpu().numpy()  # one device -> host copy per evaluation
    owners = data.item_utterance
    kept, inverse = np.unique(owners, return_inverse=True)
    utterance_logp = np.zeros((len(kept), item_logp.shape[1]))
    np.add.at(utterance_logp, inverse, item_logp)
    utterance_logp /= np.bincount(inverse, minlength=len(kept))[:, None]
    attention = None
    if with_attention:
        attention = [None] * len(order)
        for items, alpha in zip(orders, alphas):
            alpha = alpha.cpu().numpy()
            for row, item in enumerate(items):
                attention[item] = alpha[row, : data.lengths[item]]
    return Evaluation(float(loss_sum) / len(data), item_logp, utterance_logp, kept, attention)


# ---- settings, checkpoint ------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainSettings:
    max_epochs: int
    early_stopping_patience: int
    lr: float
    plateau_patience: int
    plateau_factor: float
    batch_size: int
    split: SplitSettings
    normalisation: str
    overlap: int
    select_metric: str  # val_<metric> chooses the epoch and drives early stopping (or loss)
    class_balanced_loss: bool
    weight_decay: float
    spec_augment: augment.SpecAugmentSettings

    @classmethod
    def from_config(cls, config: dict[str, Any], model_name: str) -> TrainSettings:
        train = config["train"]
        return cls(
            max_epochs=train["max_epochs"], early_stopping_patience=train["early_stopping_patience"],
            lr=train["lr"], plateau_patience=train["plateau_patience"],
            plateau_factor=train["plateau_factor"], batch_size=config[model_name]["batch_size"],
            split=SplitSettings.from_config(config),
            normalisation=config["features"]["normalisation"], overlap=config["csa"]["overlap"],
            select_metric=train["select_metric"], class_balanced_loss=train["class_balanced_loss"],
            weight_decay=train["weight_decay"], spec_augment=augment.SpecAugmentSettings.from_config(config),
        )


@dataclass(frozen=True)
class TrainJob:
    model: str  # blstmatt | csa
    fold: str  # the test session
    seed: int
    out_dir: Path
    manifests: tuple[str, ...]  # one per corpus session, same order in all three
    features: tuple[str, ...]
    stats: tuple[str, ...]
    context: int | None = None  # CSA chunk length C
    threads: int = 1
    # speed-perturbed copies (augment.speed_factors) of the training sessions, from the feature stage
    speed_features: tuple[str, ...] = ()
    speed_stats: tuple[str, ...] = ()
    hparams: dict[str, Any] | None = None  # the grid point it trains with (emocue.hparam), recorded


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    best_val_loss: float = math.inf  # at the best epoch
    best_score: tuple[float, float] = (-math.inf, -math.inf)  # selection_score of the best epoch
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    bad_epochs: int = 0  # epochs since the selection score last improved
    history: list[dict[str, float]] = field(default_factory=list)
    stop_reason: str = ""  # "" while training, then one of STOP_REASONS


# Why training ended (metrics.json "stop_reason"). A non-finite validation loss after a finite one
# keeps the best epoch so far; without one the run fails (see check_finite).
STOP_REASONS = ("early_stopping", "max_epochs", "non_finite_val_loss")


def check_finite(state: TrainState, epoch: int, train_loss: float, val_loss: float, run: str,
                 lr: float) -> bool:
    """False (stop, keeping the best epoch) or an error when the validation loss is NaN or ±inf."""
    if math.isfinite(val_loss):
        return True
    if state.best_state is not None:
        log.warning("%s: validation loss %s in epoch %d: stopping; keeping the best epoch %d",
                    run, val_loss, epoch, state.best_epoch)
        return False
    raise RuntimeError(f"{run}: validation loss {val_loss} in epoch {epoch} (mean training loss "
                       f"{train_loss:.4g}), and no earlier epoch had a finite one, so there is no model to "
                       f"keep. Likely causes: a learning rate too high for this model (train.lr = {lr:g}; "
                       "the paper uses 1e-4), or extreme feature values (check the feature stage's outputs "
                       "and features.normalisation)")


def selection_score(row: dict[str, float], metric: str) -> tuple[float, float]:
    """(validation metric, −validation loss): higher is better, the loss breaks ties of the metric."""
    return (-row["val_loss"] if metric == "loss" else row[f"val_{metric}"], -row["val_loss"])


def data_digest(splits: dict[str, Split]) -> str:
    """sha256 of every split's utt_ids, labels and feature values: a checkpoint (kept after the run)
    never outlives the data it was trained on, even when only one utterance's audio changed."""
    digest = hashlib.sha256()
    for name, split in splits.items():
        digest.update(json.dumps([name, list(split.utt_ids)]).encode())
        digest.update(np.ascontiguousarray(split.labels, dtype=np.int64).tobytes())
        for matrix in split.feats:
            digest.update(np.ascontiguousarray(matrix).tobytes())
    return digest.hexdigest()


def epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


# ---- the job ---------------------------------------------------------------------------------
def run_training(job: TrainJob, config: dict[str, Any]) -> dict[str, Any]:
    """Train one run and write its outputs to ``job.out_dir``; returns the test metrics."""
    started = time.perf_counter()
    torch.set_num_threads(job.threads)
    device = resolve_device(config["train"]["device"])
    settings = TrainSettings.from_config(config, job.model)
    classes = list(config["corpus"]["classes"])
    out_dir = Path(job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    table, matrices = load_utterances(job.manifests, job.features, job.stats, classes, settings.normalisation)
    splits = make_splits(table, matrices, job.fold, settings.split, job.seed)
    split_composition = composition(table, {name: s.utt_ids for name, s in splits.items()})
    log.info("split composition (split label: utterances / speakers): %s", "; ".join(
        f"{r['split']} {r['label']}: {r['n']}/{r['n_speakers']}" for r in split_composition.iter_rows(named=True)))
    splits["train"] = augment.with_speed_copies(splits["train"], table, job.speed_features, job.speed_stats,
                                                settings.normalisation)
    data = {name: make_data(job.model, split, settings.batch_size, device, job.context, settings.overlap)
            for name, split in splits.items()}
    left_out = {name: d.n_left_out for name, d in data.items()}
    for name, d in data.items():
        log.info("%s: %d utterances, %d %s, %d left out (shorter than C)", name, len(splits[name]),
                 len(d), "chunks" if job.model == "csa" else "items", d.n_left_out)
        if len(d) == 0:
            raise ValueError(f"the {name} set of fold {job.fold} is empty"
                             + (f": every utterance is shorter than C = {job.context} frames; "
                                "use shorter csa.contexts" if job.model == "csa" else ""))

    n_mels = splits["train"].feats[0].shape[1]
    overrides = {"input_size": n_mels, "num_classes": len(classes)}
    cfg = model_config(job.model, config[job.model], **overrides)
    torch.manual_seed(job.seed)
    model = build_model(job.model, cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    class_weights = (to_device(torch.from_numpy(augment.balanced_class_weights(
        splits["train"].labels, len(classes))).float(), device) if settings.class_balanced_loss else None)
    spec_augment = (augment.SpecAugment(settings.spec_augment, feature_axis=1 if job.model == "csa" else -1)
                    if settings.spec_augment.enabled else None)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=settings.plateau_factor, patience=settings.plateau_patience)
    log.info("%s on %s: %s, %.2f M parameters", job.model, device, cfg,
             sum(p.numel() for p in model.parameters()) / 1e6)

    # Only what changes the trained weights: scoring settings and the device never do.
    key = fingerprint(job.model, asdict(cfg), asdict(settings), job.fold, job.seed, job.context,
                      data_digest(splits))
    checkpoint = out_dir / CHECKPOINT_FILE
    state = resume(checkpoint, key, model, optimizer, scheduler)
    run = f"run {out_dir} ({job.model}, fold {job.fold}, seed {job.seed}" + (
        f", C = {job.context})" if job.context else ")")

    while (not state.stop_reason and state.epoch < settings.max_epochs
           and state.bad_epochs < settings.early_stopping_patience):
        epoch = state.epoch + 1
        tic = time.perf_counter()
        seed = epoch_seed(job.seed, epoch)
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)  # dropout masks depend on (seed, epoch) only
        train_loss = train_epoch(model, data["train"], optimizer, rng, device, class_weights, spec_augment)
        val = evaluate(model, data["val"], device)
        val_true = splits["val"].labels[val.kept]
        val_pred = val.utterance_logp.argmax(axis=1)
        lr = optimizer.param_groups[0]["lr"]
        if not check_finite(state, epoch, train_loss, val.loss, run, lr):
            state.stop_reason = "non_finite_val_loss"
            break
        scheduler.step(val.loss)
        row = {
            "epoch": epoch, "train_loss": train_loss, "val_loss": val.loss,
            "val_wa": emocue_metrics.weighted_accuracy(val_true, val_pred, len(classes)),
            "val_ua": emocue_metrics.unweighted_accuracy(val_true, val_pred, len(classes)),
            "lr": lr, "seconds": time.perf_counter() - tic,
        }
        state.history.append(row)
        score = selection_score(row, settings.select_metric)
        if score > state.best_score:
            state.best_score, state.best_val_loss, state.best_epoch, state.bad_epochs = score, val.loss, epoch, 0
            state.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            state.bad_epochs += 1
        state.epoch = epoch
        log.info("epoch %3d/%d  train_loss %.4f  val_loss %.4f  val_wa %.3f  val_ua %.3f  lr %.2e  %.1fs",
                 epoch, settings.max_epochs, row["train_loss"], row["val_loss"], row["val_wa"],
                 row["val_ua"], lr, row["seconds"])
        save_atomically({"fingerprint": key, "state": asdict(state), "model": model.state_dict(),
                         "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, checkpoint)
    if not state.stop_reason:
        early = state.bad_epochs >= settings.early_stopping_patience
        state.stop_reason = "early_stopping" if early else "max_epochs"
    # The finished checkpoint (best weights + history) stays after the outputs are written: a job
    # killed before it exits loses its outputs to Snakemake, and the rerun rewrites them from here
    # without retraining. It goes only when a rerun has other settings (or by hand).
    save_atomically({"fingerprint": key, "state": asdict(state)}, checkpoint)
    stopped_early = state.stop_reason == "early_stopping"
    log.info("%s after %d epochs; best epoch %d (val_loss %.4f)",
             state.stop_reason, state.epoch, state.best_epoch, state.best_val_loss)

    model.load_state_dict(state.best_state)
    summary = {
        "model": job.model, "fold": job.fold, "seed": job.seed, "context": job.context,
        "device": str(device), "epochs": state.epoch, "best_epoch": state.best_epoch,
        "stopped_early": stopped_early, "stop_reason": state.stop_reason, "select_metric": settings.select_metric,
        # the best epoch is the last one: still improving when max_epochs stopped it
        "may_be_undertrained": state.stop_reason == "max_epochs" and state.best_epoch == state.epoch,
        "never_improved": state.best_epoch == 1 and state.epoch > 1,
        "split_composition": split_composition.to_dicts(), "hparams": job.hparams,
        "n_utterances": {name: len(s) for name, s in splits.items()}, "n_left_out": left_out,
    }
    metrics = write_outputs(job, model, settings, classes, splits, data, state, device, summary)
    metrics["seconds"] = time.perf_counter() - started
    write_json(metrics, out_dir / OUTPUT_FILES["metrics"])
    log.info("test (%s): WA %.3f  UA %.3f  macro-F1 %.3f  (n = %d; CIs: the score stage)",
             job.fold, metrics["wa"], metrics["ua"], metrics["macro_f1"], metrics["n_test"])
    return metrics


def resume(path: Path, key: str, model: nn.Module, optimizer, scheduler) -> TrainState:
    """The saved state when a readable checkpoint of this exact run exists, else a fresh one."""
    checkpoint = read_checkpoint(path, key)
    if checkpoint is None:
        return TrainState()
    state = TrainState(**checkpoint["state"])
    if state.stop_reason:
        log.info("%s: this run finished training (%s after epoch %d): writing its outputs from the best "
                 "epoch's weights without retraining (delete it to retrain)", path, state.stop_reason, state.epoch)
        return state
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    log.info("resuming from %s after epoch %d", path, state.epoch)
    return state


# ---- outputs ---------------------------------------------------------------------------------
def prediction_table(split: Split, evaluation: Evaluation, classes: Sequence[str]) -> pl.DataFrame:
    """utt_id, label, pred, logp_<class> for the utterances that have items (CSA: ≥ 1 chunk)."""
    kept = evaluation.kept
    return prediction_frame([split.utt_ids[i] for i in kept], split.labels[kept],
                            evaluation.utterance_logp, classes)


def write_json(obj: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, allow_nan=True) + "\n")


def write_outputs(job: TrainJob, model: nn.Module, settings: TrainSettings, classes: list[str],
                  splits: dict[str, Split], data: dict, state: TrainState, device: torch.device,
                  summary: dict[str, Any]) -> dict[str, Any]:
    out_dir = Path(job.out_dir)
    is_blstmatt = job.model == "blstmatt"
    test = evaluate(model, data["test"], device, with_attention=is_blstmatt)
    val = evaluate(model, data["val"], device)
    prediction_table(splits["test"], test, classes).write_parquet(out_dir / OUTPUT_FILES["predictions"])
    prediction_table(splits["val"], val, classes).write_parquet(out_dir / OUTPUT_FILES["val_predictions"])
    pl.DataFrame(state.history, schema={
        "epoch": pl.Int32, "train_loss": pl.Float64, "val_loss": pl.Float64, "val_wa": pl.Float64,
        "val_ua": pl.Float64, "lr": pl.Float64, "seconds": pl.Float64,
    }).write_parquet(out_dir / OUTPUT_FILES["history"])
    test_data = data["test"]
    if is_blstmatt:
        utt_ids = splits["test"].utt_ids
        pl.DataFrame({
            "utt_id": np.repeat(utt_ids, [len(a) for a in test.attention]),
            "frame": np.concatenate([np.arange(len(a)) for a in test.attention]).astype(np.int32),
            "weight": np.concatenate(test.attention).astype(np.float32),
        }).write_parquet(out_dir / OUTPUT_FILES["attention"])
    else:
        starts = test_data.starts
        first = np.r_[0, np.flatnonzero(np.diff(test_data.item_utterance)) + 1]  # chunks are grouped
        chunk_number = np.arange(len(starts)) - np.repeat(first, np.diff(np.r_[first, len(starts)]))
        pl.DataFrame({
            "utt_id": [splits["test"].utt_ids[i] for i in test_data.item_utterance],
            "chunk": chunk_number.astype(np.int32),
            "start_frame": starts.astype(np.int32),
            **dict(zip(logp_columns(classes), test.item_logp.T)),
        }).write_parquet(out_dir / OUTPUT_FILES["chunk_predictions"])
    trained = TrainedModel(job.model, model, classes, settings.normalisation, job.context,
                           settings.overlap if job.context else None, state.best_epoch)
    save_atomically(trained.to_dict(), out_dir / OUTPUT_FILES["model"])
    y_true = splits["test"].labels[test.kept]
    y_pred = test.utterance_logp.argmax(axis=1)
    # Point scores for the log and a quick look; the score stage (emocue.scoring) is the one that
    # scores predictions for the tables, with CIs, so scoring settings never rerun training.
    metrics = {name: point_score(y_true, y_pred, len(classes), name) for name in METRICS}
    return {**metrics, "n_test": int(len(y_true)), **summary}


# ---- command line (benchmarks, tests, manual runs) --------------------------------------------
def job_from_results(results: str | Path, config: dict[str, Any], model: str, fold: str, seed: int,
                     context: int | None, out_dir: str | Path, threads: int = 1) -> TrainJob:
    """A job reading the standard stage outputs under ``results`` (see docs/outputs.md)."""
    results = Path(results)
    sessions = config["corpus"]["sessions"]
    speed_copies = [(s, augment.speed_tag(f)) for s in training_sessions(config) for f in augment.speed_factors(config)]
    return TrainJob(
        model=model, fold=fold, seed=seed, out_dir=Path(out_dir), context=context, threads=threads,
        manifests=tuple(str(results / "corpus" / f"{s}.parquet") for s in sessions),
        features=tuple(str(results / "features" / f"{s}.npz") for s in sessions),
        stats=tuple(str(results / "features" / f"{s}.stats.parquet") for s in sessions),
        speed_features=tuple(layout.speed_features_file(s, t, str(results)) for s, t in speed_copies),
        speed_stats=tuple(layout.speed_features_stats(s, t, str(results)) for s, t in speed_copies),
    )


def main(argv: Sequence[str] | None = None) -> None:
    from emocue.config import load_config

    parser = argparse.ArgumentParser(description="Train one BLSTMATT/CSA run outside Snakemake.")
    parser.add_argument("--configfile", required=True)
    parser.add_argument("--model", choices=["blstmatt", "csa"], required=True)
    parser.add_argument("--fold", required=True, help="test session, e.g. Session5")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--context", type=int, default=None, help="CSA chunk length C")
    parser.add_argument("--results", default="results", help="folder holding corpus/ and features/")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(args.configfile)
    if args.model == "csa" and args.context is None:
        parser.error("--context is required for csa")
    run_training(job_from_results(args.results, config, args.model, args.fold, args.seed,
                                  args.context, args.out_dir, args.threads), config)


if __name__ == "__main__":
    main()
