"""Where training runs and how its data reach the model: the device, and batches of utterances
(BLSTMATT) or chunks (CSA) for :mod:`emocue.train`.

On CUDA the host never waits: host tensors are pinned and copied asynchronously, CSA's chunks live
on the device for the whole run, and utterance lengths stay on the CPU (packing needs them there).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from emocue.models.csa import make_chunks
from emocue.split import Split

log = logging.getLogger("emocue.train")


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
