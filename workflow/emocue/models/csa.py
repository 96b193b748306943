"""CSA: convolutions + convolutional self-attention on fixed-length chunks (paper §3.2, §4.3.2).

Utterances are cut into chunks of C frames overlapping by ``overlap`` frames (hop = C − overlap);
chunk i of an utterance with T ≥ C frames covers frames [i·hop, i·hop + C) for
i = 0 … (T − C) // hop, so the last (T − C) mod hop frames are not covered. Utterances with
T < C give no chunk: they are left out of that context's sets and counted by the caller. Every
chunk carries its utterance's label; an utterance's log-posterior is the mean of its chunks'.

A chunk x (1, 23, C) goes through three conv blocks (k×k conv with 128 channels in the paper,
batch norm, ReLU; a 2×2 max-pool after the first two keeps the N × N attention map small), giving
y (Ch, N) over N positions. The self-attention layer (Eqs. 1–5):

    j = W_j y,  k = W_k y                      1×1 convs down-sampling channels to Ch/8    (1), (2)
    E = softmax(jᵀ k)                          (N, N), row i normalised over positions p   (3)
    l = W_l y                                  1×1 conv, Ch channels                       (4)
    A = γ · (l Eᵀ),   ŷ = y + A                A_i = γ Σ_p E_ip l_p; γ learnable, 0 at init (5)

then ŷ is averaged over positions and projected linearly to the K class logits (cross-entropy).
With γ = 0 the attention branch adds nothing, so training starts from the plain CNN and learns
how much attention to mix in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from emocue.models.output import ModelOutput


@dataclass(frozen=True)
class CSAConfig:
    input_size: int = 23  # log-Mel bins (the chunk's height)
    channels: int = 128  # Ch (paper: 128)
    kernel_sizes: tuple[int, int, int] = (5, 3, 3)  # one per conv block, each 2–6
    num_classes: int = 4
    dropout: float = 0.2


# ---- chunking --------------------------------------------------------------------------------
def chunk_starts(num_frames: int, context: int, overlap: int) -> np.ndarray:
    """First frames of the chunks of one utterance; empty when it is shorter than ``context``."""
    hop = context - overlap
    if hop <= 0:
        raise ValueError(f"context {context} must be longer than overlap {overlap}")
    if num_frames < context:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, num_frames - context + 1, hop, dtype=np.int64)


@dataclass(frozen=True)
class Chunks:
    """Chunks of a list of utterances: ``data[i]`` is frames ``starts[i]:starts[i]+C`` of utterance
    ``utterance[i]`` (an index into the list given to :func:`make_chunks`)."""

    data: np.ndarray  # (N_chunks, F, C) float32, frequency first as the conv input expects
    utterance: np.ndarray  # (N_chunks,) int64
    starts: np.ndarray  # (N_chunks,) int64
    left_out: np.ndarray  # indices of the utterances shorter than C


def make_chunks(matrices: list[np.ndarray], context: int, overlap: int) -> Chunks:
    """Cut (T, F) utterance matrices into (F, C) chunks (one strided copy per utterance)."""
    pieces, owners, starts, left_out = [], [], [], []
    for index, matrix in enumerate(matrices):
        first = chunk_starts(len(matrix), context, overlap)
        if len(first) == 0:
            left_out.append(index)
            continue
        windows = np.lib.stride_tricks.sliding_window_view(matrix, context, axis=0)  # (T-C+1, F, C)
        pieces.append(windows[first])
        owners.append(np.full(len(first), index, dtype=np.int64))
        starts.append(first)
    n_mels = matrices[0].shape[1] if matrices else 0
    return Chunks(
        data=np.ascontiguousarray(np.concatenate(pieces), dtype=np.float32)
        if pieces
        else np.zeros((0, n_mels, context), np.float32),
        utterance=np.concatenate(owners) if owners else np.zeros(0, np.int64),
        starts=np.concatenate(starts) if starts else np.zeros(0, np.int64),
        left_out=np.asarray(left_out, dtype=np.int64),
    )


# ---- model -----------------------------------------------------------------------------------
class ConvBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, pool: bool):
        super().__init__()
        before, after = (kernel_size - 1) // 2, kernel_size // 2  # "same" size, also for even k
        self.pad = nn.ZeroPad2d((before, after, before, after))
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, Cin, F, C) -> (B, Ch, F, C), halved by the pool in the first two blocks
        return self.pool(torch.relu(self.norm(self.conv(self.pad(x)))))


class ConvSelfAttention(nn.Module):
    """Eqs. (1)–(5): ŷ = y + γ · (l Eᵀ) with E = softmax(jᵀ k) over positions."""

    def __init__(self, channels: int):
        super().__init__()
        reduced = max(1, channels // 8)
        self.to_j = nn.Conv1d(channels, reduced, 1)  # W_j
        self.to_k = nn.Conv1d(channels, reduced, 1)  # W_k
        self.to_l = nn.Conv1d(channels, channels, 1)  # W_l
        self.gamma = nn.Parameter(torch.zeros(1))  # γ = 0: the branch starts as a no-op

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        # y: (B, Ch, N) over N positions
        j, k, l = self.to_j(y), self.to_k(y), self.to_l(y)  # (B, Ch/8, N), (B, Ch/8, N), (B, Ch, N)
        E = torch.bmm(j.transpose(1, 2), k).float().softmax(dim=-1)  # (B, N, N), float32 softmax
        A = self.gamma * torch.bmm(l, E.to(l.dtype).transpose(1, 2))  # (B, Ch, N)
        return y + A


class CSA(nn.Module):
    def __init__(self, config: CSAConfig):
        super().__init__()
        self.config = config
        sizes = list(config.kernel_sizes)
        in_channels = [1, config.channels, config.channels]
        self.blocks = nn.Sequential(
            *(
                ConvBlock(cin, config.channels, size, pool=i < 2)
                for i, (cin, size) in enumerate(zip(in_channels, sizes))
            )
        )
        self.attention = ConvSelfAttention(config.channels)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.channels, config.num_classes)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """x: (B, F, C) chunks (or (B, 1, F, C)); returns class logits (B, K), one row per chunk."""
        if x.dim() == 3:
            x = x.unsqueeze(1)  # (B, 1, F, C)
        y = self.blocks(x)  # (B, Ch, F', C')
        y = self.attention(y.flatten(2))  # (B, Ch, N = F'·C')
        pooled = y.mean(dim=2)  # (B, Ch)
        return ModelOutput(self.classifier(self.dropout(pooled)))  # logits (B, K)
