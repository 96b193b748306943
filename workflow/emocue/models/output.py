"""What every model's forward returns, so training and analysis code never branch on the model."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ModelOutput:
    """One row per item of the batch: an utterance (BLSTMATT) or a chunk of C frames (CSA)."""

    logits: torch.Tensor  # (B, K) class scores, trained with cross-entropy
    attention: torch.Tensor | None = None  # (B, T) BLSTMATT's α, 0 on padding; None for CSA

    def log_posteriors(self) -> torch.Tensor:
        """(B, K) float32 log-softmax of the logits (also under bf16 autocast)."""
        return self.logits.float().log_softmax(dim=-1)
