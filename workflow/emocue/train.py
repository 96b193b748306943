"""Training jobs: one (model, fold, seed[, context C]) run from manifests + features to predictions.

A run reads every session's manifest and features, normalises the features
(``features.normalisation``), splits utterances into train / validation / test (the fold's test
session is test; validation is a seeded, speaker- and label-stratified fraction of the training
sessions, so the test session is never used for any choice), then trains with Adam,
ReduceLROnPlateau on the validation loss and early stopping, keeping the weights of the epoch with
the lowest validation loss.

Robustness: a checkpoint (model, optimiser, scheduler, history, best weights) is written atomically
after every epoch; a rerun with the same settings resumes from it. Randomness is derived from
(seed, epoch), so a resumed run follows exactly the path an uninterrupted one would (on CPU).

Speed: length-bucketed batches (whole utterances of similar length) for BLSTMATT; CSA chunks all
have C frames and live on the device for the whole run. On CUDA: bf16 autocast, pinned host
memory, and no host synchronisation inside the epoch (losses are summed on the device and read
once per epoch).

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
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from torch import nn

from emocue import metrics as emocue_metrics
from emocue.features import load_features, normalise
from emocue.models import build_model, model_config
from emocue.models.csa import make_chunks
from emocue.sweep import logp_columns, prediction_frame

log = logging.getLogger("emocue.train")

SPLITS = ("train", "val", "test")
OUTPUT_FILES = {
    "model": "model.pt",
    "history": "history.parquet",
    "predictions": "predictions.parquet",
    "val_predictions": "val_predictions.parquet",
    "metrics": "metrics.json",
    "attention": "attention.parquet",  # BLSTMATT only
    "chunk_predictions": "chunk_predictions.parquet",  # CSA only
}
CHECKPOINT_FILE = "checkpoint.pt"


# ---- data ------------------------------------------------------------------------------------
@dataclass
class Split:
    """Utterances of one split: normalised (T, F) matrices and class indices."""

    name: str
    utt_ids: list[str]
    labels: np.ndarray  # (U,) int64
    feats: list[np.ndarray]  # U × (T, F) float32

    def __len__(self) -> int:
        return len(self.utt_ids)


def load_utterances(manifests: Sequence[str | Path], features: Sequence[str | Path],
                    stats: Sequence[str | Path], classes: Sequence[str],
                    normalisation: str) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """All sessions' manifests (utt_id, speaker, session, label, y) sorted by utt_id, and the
    normalised (``features.normalisation``) feature matrix of every utterance."""
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
        for utt_id in table["utt_id"].to_list():
            matrices[utt_id] = feature_set.feats[offsets[index[utt_id]]: offsets[index[utt_id] + 1]]
        tables.append(table)
    table = pl.concat(tables).sort("utt_id")
    table = table.with_columns(y=pl.col("label").replace_strict(class_index, return_dtype=pl.Int64))
    return table, matrices


def stratified_validation(speakers: Sequence[str], labels: Sequence[str], fraction: float,
                          seed: int) -> np.ndarray:
    """Boolean mask choosing round(fraction · n) items, spread over (speaker, label) strata in
    proportion to their sizes (largest remainders get the rounding; ties broken by the seed)."""
    rng = np.random.default_rng(seed)
    keys = np.array([f"{s}\x00{l}" for s, l in zip(speakers, labels)])
    strata, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    quotas = fraction * counts
    take = np.floor(quotas).astype(int)
    extra = int(round(fraction * len(keys))) - int(take.sum())
    tie_break = rng.permutation(len(strata))
    order = tie_break[np.argsort(-(quotas - take)[tie_break], kind="stable")]
    take[order[:extra]] += 1
    mask = np.zeros(len(keys), dtype=bool)
    for stratum in range(len(strata)):
        members = np.flatnonzero(inverse == stratum)
        mask[rng.choice(members, size=take[stratum], replace=False)] = True
    return mask


def make_splits(table: pl.DataFrame, matrices: dict[str, np.ndarray], test_session: str,
                validation_fraction: float, seed: int) -> dict[str, Split]:
    """Test = the fold's session; validation = stratified fraction of the other sessions."""
    test = table.filter(pl.col("session") == test_session)
    rest = table.filter(pl.col("session") != test_session)
    if test.height == 0:
        raise ValueError(f"no utterances of test session {test_session!r} in the manifests")
    is_val = stratified_validation(rest["speaker"].to_list(), rest["label"].to_list(),
                                   validation_fraction, seed)
    parts = {"train": rest.filter(~pl.Series(is_val)), "val": rest.filter(pl.Series(is_val)), "test": test}
    return {
        name: Split(name, part["utt_id"].to_list(), part["y"].to_numpy().astype(np.int64),
                    [matrices[u] for u in part["utt_id"].to_list()])
        for name, part in parts.items()
    }


# ---- device ----------------------------------------------------------------------------------
def resolve_device(requested: str) -> torch.device:
    if requested == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if requested == "cuda":
        raise RuntimeError(
            "train.device is 'cuda' but PyTorch sees no CUDA GPU (torch.cuda.is_available() is False; "
            f"torch {torch.__version__}, built with CUDA {torch.version.cuda}). Run on a GPU node "
            "(train.gpus ≥ 1 with the Slurm profile, and the CUDA env envs/train.yaml) or set "
            "train.device to auto or cpu."
        )
    log.warning("train.device is 'auto' and no CUDA GPU is available: training on the CPU")
    return torch.device("cpu")


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host -> device copy; pinned and asynchronous on CUDA so the host never waits."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor


# ---- batches ---------------------------------------------------------------------------------
@dataclass
class Batch:
    inputs: tuple[torch.Tensor, ...]  # the model's forward arguments
    targets: torch.Tensor  # (B,) class indices on the device
    items: np.ndarray  # (B,) item indices in the dataset (utterances or chunks)


def length_buckets(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None,
                   pool_batches: int = 50) -> list[np.ndarray]:
    """Batches of items of similar length: shuffle, sort within pools of ``pool_batches`` batches,
    cut, shuffle the batch order. Without ``rng`` (evaluation): sorted, in order."""
    order = rng.permutation(len(lengths)) if rng is not None else np.arange(len(lengths))
    pool = batch_size * pool_batches if rng is not None else len(lengths)
    batches = []
    for start in range(0, len(order), pool):
        members = order[start: start + pool]
        members = members[np.argsort(lengths[members], kind="stable")]
        batches += [members[i: i + batch_size] for i in range(0, len(members), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


class UtteranceData:
    """BLSTMATT input: whole utterances, zero-padded in length-bucketed batches."""

    def __init__(self, split: Split, batch_size: int, device: torch.device):
        self.split, self.batch_size, self.device = split, batch_size, device
        self.lengths = np.array([len(m) for m in split.feats], dtype=np.int64)
        self.feats = [torch.from_numpy(m) for m in split.feats]
        self.labels = torch.from_numpy(split.labels)
        self.item_utterance = np.arange(len(split))  # item i is utterance i
        self.n_left_out = 0

    def __len__(self) -> int:
        return len(self.lengths)

    def batches(self, rng: np.random.Generator | None = None) -> Iterator[Batch]:
        for items in length_buckets(self.lengths, self.batch_size, rng):
            x = nn.utils.rnn.pad_sequence([self.feats[i] for i in items], batch_first=True)  # (B, T, F)
            lengths = torch.from_numpy(self.lengths[items])  # (B,) stays on the CPU for packing
            yield Batch((to_device(x, self.device), lengths), to_device(self.labels[items], self.device), items)


class ChunkData:
    """CSA input: (F, C) chunks with overlap, kept on the device; utterances shorter than C left out."""

    def __init__(self, split: Split, batch_size: int, device: torch.device, context: int, overlap: int):
        chunks = make_chunks(split.feats, context, overlap)
        self.split, self.batch_size, self.device = split, batch_size, device
        self.starts = chunks.starts
        self.item_utterance = chunks.utterance  # (N_chunks,) owning utterance of each chunk
        self.n_left_out = len(chunks.left_out)
        self.data = to_device(torch.from_numpy(chunks.data), device)  # (N, F, C)
        self.labels = to_device(torch.from_numpy(split.labels[chunks.utterance]), device)  # (N,)

    def __len__(self) -> int:
        return len(self.starts)

    def batches(self, rng: np.random.Generator | None = None) -> Iterator[Batch]:
        order = rng.permutation(len(self)) if rng is not None else np.arange(len(self))
        order_on_device = to_device(torch.from_numpy(order), self.device)
        for start in range(0, len(order), self.batch_size):
            index = order_on_device[start: start + self.batch_size]
            yield Batch((self.data[index],), self.labels[index], order[start: start + self.batch_size])


def make_data(model_name: str, split: Split, batch_size: int, device: torch.device,
              context: int | None, overlap: int):
    if model_name == "csa":
        return ChunkData(split, batch_size, device, context, overlap)
    return UtteranceData(split, batch_size, device)


# ---- one epoch, evaluation --------------------------------------------------------------------
def autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def split_output(output) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logits, attention or None) from either model's forward."""
    return output if isinstance(output, tuple) else (output, None)


def train_epoch(model: nn.Module, data, optimizer: torch.optim.Optimizer, rng: np.random.Generator,
                device: torch.device) -> float:
    model.train()
    loss_sum = torch.zeros((), device=device)  # summed on the device: no per-step host sync
    for batch in data.batches(rng):
        with autocast(device):
            logits, _ = split_output(model(*batch.inputs))
        loss = F.cross_entropy(logits.float(), batch.targets)
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
            logits, alpha = split_output(model(*batch.inputs))
        logp = logits.float().log_softmax(dim=-1)  # (B, K)
        loss_sum += F.nll_loss(logp, batch.targets, reduction="sum")
        logps.append(logp)
        orders.append(batch.items)
        if with_attention:
            alphas.append(alpha.float())
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
    bootstrap: int
    validation_fraction: float
    normalisation: str
    overlap: int

    @classmethod
    def from_config(cls, config: dict[str, Any], model_name: str) -> TrainSettings:
        train = config["train"]
        return cls(
            max_epochs=train["max_epochs"], early_stopping_patience=train["early_stopping_patience"],
            lr=train["lr"], plateau_patience=train["plateau_patience"],
            plateau_factor=train["plateau_factor"], batch_size=config[model_name]["batch_size"],
            bootstrap=train["bootstrap"], validation_fraction=config["split"]["validation_fraction"],
            normalisation=config["features"]["normalisation"], overlap=config["csa"]["overlap"],
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


def fingerprint(*parts: Any) -> str:
    """Hash of everything that must match for a checkpoint to be resumed."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def save_atomically(obj: Any, path: Path) -> None:
    """torch.save to a temporary file then rename, so a kill never leaves a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    best_val_loss: float = math.inf
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    bad_epochs: int = 0  # epochs since the validation loss last improved
    history: list[dict[str, float]] = field(default_factory=list)


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
    splits = make_splits(table, matrices, job.fold, settings.validation_fraction, job.seed)
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
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=settings.plateau_factor, patience=settings.plateau_patience)
    log.info("%s on %s: %s, %.2f M parameters", job.model, device, cfg,
             sum(p.numel() for p in model.parameters()) / 1e6)

    key = fingerprint(job.model, asdict(cfg), asdict(settings), job.fold, job.seed, job.context,
                      {name: s.utt_ids for name, s in splits.items()},
                      {name: [len(m) for m in s.feats] for name, s in splits.items()})
    state = resume(out_dir / CHECKPOINT_FILE, key, model, optimizer, scheduler)

    while state.epoch < settings.max_epochs and state.bad_epochs < settings.early_stopping_patience:
        epoch = state.epoch + 1
        tic = time.perf_counter()
        seed = epoch_seed(job.seed, epoch)
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)  # dropout masks depend on (seed, epoch) only
        train_loss = train_epoch(model, data["train"], optimizer, rng, device)
        val = evaluate(model, data["val"], device)
        val_true = splits["val"].labels[val.kept]
        val_pred = val.utterance_logp.argmax(axis=1)
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step(val.loss)
        row = {
            "epoch": epoch, "train_loss": train_loss, "val_loss": val.loss,
            "val_wa": emocue_metrics.weighted_accuracy(val_true, val_pred, len(classes)),
            "val_ua": emocue_metrics.unweighted_accuracy(val_true, val_pred, len(classes)),
            "lr": lr, "seconds": time.perf_counter() - tic,
        }
        state.history.append(row)
        if val.loss < state.best_val_loss:
            state.best_val_loss, state.best_epoch, state.bad_epochs = val.loss, epoch, 0
            state.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            state.bad_epochs += 1
        state.epoch = epoch
        log.info("epoch %3d/%d  train_loss %.4f  val_loss %.4f  val_wa %.3f  val_ua %.3f  lr %.2e  %.1fs",
                 epoch, settings.max_epochs, row["train_loss"], row["val_loss"], row["val_wa"],
                 row["val_ua"], lr, row["seconds"])
        save_atomically({"fingerprint": key, "state": asdict(state), "model": model.state_dict(),
                         "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
                        out_dir / CHECKPOINT_FILE)
    stopped_early = state.bad_epochs >= settings.early_stopping_patience
    log.info("%s after %d epochs; best epoch %d (val_loss %.4f)",
             "early stop" if stopped_early else "done", state.epoch, state.best_epoch, state.best_val_loss)

    model.load_state_dict(state.best_state)
    summary = {
        "model": job.model, "fold": job.fold, "seed": job.seed, "context": job.context,
        "device": str(device), "epochs": state.epoch, "best_epoch": state.best_epoch,
        "stopped_early": stopped_early,
        "n_utterances": {name: len(s) for name, s in splits.items()}, "n_left_out": left_out,
    }
    metrics = write_outputs(job, model, cfg, settings, classes, splits, data, state, device, summary)
    metrics["seconds"] = time.perf_counter() - started
    write_json(metrics, out_dir / OUTPUT_FILES["metrics"])
    (out_dir / CHECKPOINT_FILE).unlink(missing_ok=True)  # finished: a forced rerun starts afresh
    log.info("test (%s): WA %.3f [%.3f, %.3f]  UA %.3f [%.3f, %.3f]  macro-F1 %.3f  (n = %d)",
             job.fold, metrics["wa"], metrics["wa_ci_low"], metrics["wa_ci_high"], metrics["ua"],
             metrics["ua_ci_low"], metrics["ua_ci_high"], metrics["macro_f1"], metrics["n_test"])
    return metrics


def resume(path: Path, key: str, model: nn.Module, optimizer, scheduler) -> TrainState:
    """The saved state when a checkpoint of this exact run exists, else a fresh one."""
    if not path.exists():
        return TrainState()
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    if checkpoint.get("fingerprint") != key:
        log.warning("%s belongs to a run with other settings or data: starting from scratch", path)
        return TrainState()
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    state = TrainState(**checkpoint["state"])
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


def write_outputs(job: TrainJob, model: nn.Module, cfg, settings: TrainSettings, classes: list[str],
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
    save_atomically({"model": job.model, "config": asdict(cfg), "state_dict": model.state_dict(),
                     "classes": classes, "normalisation": settings.normalisation,
                     "context": job.context, "overlap": settings.overlap if job.context else None,
                     "best_epoch": state.best_epoch}, out_dir / OUTPUT_FILES["model"])
    y_true = splits["test"].labels[test.kept]
    y_pred = test.utterance_logp.argmax(axis=1)
    metrics = emocue_metrics.evaluate(y_true, y_pred, classes, settings.bootstrap, seed=job.seed)
    metrics["n_test"] = metrics.pop("n")
    return {**metrics, **summary}


# ---- command line (benchmarks, tests, manual runs) --------------------------------------------
def job_from_results(results: str | Path, config: dict[str, Any], model: str, fold: str, seed: int,
                     context: int | None, out_dir: str | Path, threads: int = 1) -> TrainJob:
    """A job reading the standard stage outputs under ``results`` (see docs/outputs.md)."""
    results = Path(results)
    sessions = config["corpus"]["sessions"]
    return TrainJob(
        model=model, fold=fold, seed=seed, out_dir=Path(out_dir), context=context, threads=threads,
        manifests=tuple(str(results / "corpus" / f"{s}.parquet") for s in sessions),
        features=tuple(str(results / "features" / f"{s}.npz") for s in sessions),
        stats=tuple(str(results / "features" / f"{s}.stats.parquet") for s in sessions),
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
