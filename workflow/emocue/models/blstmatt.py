"""BLSTMATT: bidirectional LSTM with attention over whole utterances (paper §3.1, §4.3.1).

Input is a batch of normalised log-Mel utterances ``x`` (B, T, 23) with true lengths ``T_b``.
With ``h_t`` the BLSTM output of frame t (2 layers, H units per direction, so 2H = 1024 in the
paper) and only the valid frames ``t < T_b`` taking part:

    m    = 1/T_b · Σ_t h_t                    global mean over time of the BLSTM outputs  (2H)
    q    = tanh(W_q m + b_q)                   utterance query                             (A)
    u_t  = tanh(W_u h_t + b_u)                 frame representation                        (A)
    e_t  = q · u_t                             multiplicative score per frame
    α_t  = exp(e_t) / Σ_{s<T_b} exp(e_s)       softmax over valid frames; α_t = 0 on padding
    c    = Σ_t α_t u_t                         context vector                              (A = 128)
    z    = ReLU(W_c c + b_c)                   projected back to the BLSTM width           (2H)
    y    = W_o z + b_o                         class logits, trained with cross-entropy    (K)

``forward`` returns a :class:`~emocue.models.output.ModelOutput` with the logits **and α**: α is
what the attention analysis interprets, so the exported weights are exactly the ones used to
classify.

Padding never reaches a valid frame. Each layer runs a forward and a backward unidirectional LSTM;
the backward one reads every sequence reversed *within its own length*, so in both directions the
padding comes after the valid frames and a causal LSTM cannot see it. On CUDA the sequences are
also packed, so padding costs nothing in cuDNN; on the CPU they are not, because PyTorch fuses
(oneDNN) only unpacked LSTMs — about 7x faster there, and length-bucketed batches keep the
padding small.

Precision: the LSTMs always run in float32 (TF32 allowed), also inside a bf16 autocast region — see
:meth:`BLSTM.forward` for why. Everything after them follows autocast; the means, the softmax and
the loss are taken in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from emocue.models.output import ModelOutput


@dataclass(frozen=True)
class BLSTMATTConfig:
    input_size: int = 23  # log-Mel bins
    hidden_size: int = 512  # units per direction (paper: 512)
    num_layers: int = 2
    context_size: int = 128  # A: attention / context vector size (paper: 128)
    num_classes: int = 4
    dropout: float = 0.2


def valid_frame_mask(lengths: torch.Tensor, max_len: int, device: torch.device) -> torch.Tensor:
    """(B, T) bool, True on the first lengths[b] frames. Built on ``device`` without a host sync."""
    lengths = lengths.to(device, non_blocking=True)
    return torch.arange(max_len, device=device)[None, :] < lengths[:, None]


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence's first lengths[b] steps, leaving the padding in place (an involution)."""
    B, T, C = x.shape
    t = torch.arange(T, device=x.device)[None, :]  # (1, T)
    last = lengths.to(x.device, non_blocking=True)[:, None] - 1  # (B, 1)
    index = torch.where(t <= last, last - t, t)  # (B, T)
    return x.gather(1, index[:, :, None].expand(B, T, C))


class BiLSTMLayer(nn.Module):
    """One bidirectional layer from two unidirectional LSTMs (see the module docstring)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.forward_lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.backward_lstm = nn.LSTM(input_size, hidden_size, batch_first=True)

    @staticmethod
    def run(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor, pack: bool) -> torch.Tensor:
        if not pack:
            return lstm(x)[0]  # (B, T, H); outputs on padding are garbage, masked by the caller
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])[0]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, pack: bool) -> torch.Tensor:
        # x: (B, T, C_in) -> (B, T, 2H), forward states first
        forward = self.run(self.forward_lstm, x, lengths, pack)
        backward = self.run(self.backward_lstm, reverse_within_lengths(x, lengths), lengths, pack)
        return torch.cat([forward, reverse_within_lengths(backward, lengths)], dim=-1)


class BLSTM(nn.Module):
    """Stacked bidirectional LSTM with dropout between layers; zeros on padding."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        sizes = [input_size] + [2 * hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(BiLSTMLayer(size, hidden_size) for size in sizes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor,
                pack: bool | None = None) -> torch.Tensor:
        pack = x.is_cuda if pack is None else pack
        # The LSTMs run outside autocast, in float32. Autocast sends cuDNN LSTMs through
        # at::autocast::_cudnn_rnn_cast_reflatten (aten/src/ATen/cudnn/AutocastRNN.cpp), which casts
        # the input, the hidden state and a re-flattened weight buffer to at::kHalf, hard-coded,
        # whatever dtype autocast was asked for: under bf16 autocast they would run in float16,
        # whose gradients underflow without a GradScaler. The pinned wheel (torch 2.13.0+cpu) ships
        # no CUDA sources to prove otherwise (its ATen/autocast_mode.h lists only the LSTM *cells*
        # as lower-precision ops), so this path does not depend on it. On Ampere and later, cuDNN
        # RNNs still use TF32 tensor cores: torch.backends.cudnn.rnn.fp32_precision is "tf32" by
        # default (checked by benchmarks/gpu_check.py).
        with torch.autocast(x.device.type, enabled=False):
            h = x.to(self.layers[0].forward_lstm.weight_ih_l0.dtype)  # float32 unless made .double()
            for i, layer in enumerate(self.layers):
                h = self.dropout(h) if i > 0 else h
                h = layer(h, lengths, pack)  # (B, T, 2H) float32
        return h * mask[:, :, None]  # (B, T, 2H), exactly 0 on padding


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, C) mean of h (B, T, C) over the valid frames, at least in float32; h is 0 on padding.

    Never in float16 or bfloat16: there a length above 2048 (float16) or 256 (bfloat16) is not
    representable (2049 rounds to 2048) and a sum over thousands of frames loses its low bits.
    """
    wide = torch.promote_types(h.dtype, torch.float32)
    return h.to(wide).sum(dim=1) / mask.sum(dim=1, keepdim=True).to(wide)


class MeanQueryAttention(nn.Module):
    """Attention whose query is the masked global mean of the sequence (the equations above)."""

    def __init__(self, input_size: int, context_size: int):
        super().__init__()
        self.query = nn.Linear(input_size, context_size)  # W_q
        self.frame = nn.Linear(input_size, context_size)  # W_u

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # h: (B, T, 2H) with zeros on padding; mask: (B, T)
        mean = masked_mean(h, mask).to(h.dtype)  # (B, 2H) m
        q = torch.tanh(self.query(mean))  # (B, A)
        u = torch.tanh(self.frame(h))  # (B, T, A)
        scores = torch.einsum("bta,ba->bt", u, q).float()  # (B, T); softmax in float32 under autocast
        alpha = scores.masked_fill(~mask, float("-inf")).softmax(dim=1)  # (B, T), 0 on padding
        context = torch.einsum("bt,bta->ba", alpha.to(u.dtype), u)  # (B, A)
        return context, alpha


class BLSTMATT(nn.Module):
    def __init__(self, config: BLSTMATTConfig):
        super().__init__()
        self.config = config
        width = 2 * config.hidden_size
        self.blstm = BLSTM(config.input_size, config.hidden_size, config.num_layers, config.dropout)
        self.attention = MeanQueryAttention(width, config.context_size)
        self.project = nn.Linear(config.context_size, width)  # W_c: context (A) -> 2H
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(width, config.num_classes)  # W_o

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, pack: bool | None = None) -> ModelOutput:
        """x: (B, T, F) zero-padded; lengths: (B,) int64 on the CPU (packing needs them there);
        pack: pack the sequences (default: on CUDA only).

        Returns logits (B, K) and attention weights α (B, T) that sum to 1 over valid frames.
        """
        B, T, _ = x.shape
        mask = valid_frame_mask(lengths, T, x.device)  # (B, T)
        h = self.blstm(x, lengths, mask, pack)  # (B, T, 2H), 0 on padding
        context, alpha = self.attention(h, mask)  # (B, A), (B, T)
        z = torch.relu(self.project(context))  # (B, 2H)
        logits = self.classifier(self.dropout(z))  # (B, K)
        return ModelOutput(logits, alpha)
