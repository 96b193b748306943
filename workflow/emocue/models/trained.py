"""A trained run's model.pt: what it holds, and how to use it on whole utterances.

model.pt (docs/outputs.md, "train") is a plain dict, so ``torch.load(weights_only=True)`` reads it:
``model`` (blstmatt | csa), ``config`` (the model dataclass as a dict), ``state_dict`` (the weights
of the best validation epoch), ``classes``, ``normalisation``, ``context`` and ``overlap`` (CSA's C
and chunk overlap, else None) and ``best_epoch``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emocue.models.csa import chunk_starts


@dataclass
class TrainedModel:
    name: str  # blstmatt | csa
    model: nn.Module
    classes: list[str]
    normalisation: str  # features.normalisation the model was trained on
    context: int | None  # CSA chunk length C
    overlap: int | None  # CSA chunk overlap
    best_epoch: int

    def to_dict(self) -> dict[str, Any]:
        """The model.pt contents."""
        return {"model": self.name, "config": asdict(self.model.config), "state_dict": self.model.state_dict(),
                "classes": list(self.classes), "normalisation": self.normalisation,
                "context": self.context, "overlap": self.overlap, "best_epoch": self.best_epoch}

    def utterance_log_posteriors(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, K) log-posteriors of whole utterances x (B, T, F) (normalised as in training, zero-
        padded) with lengths (B,) int64, exactly as training scores them; differentiable in x.

        BLSTMATT classifies the utterance. CSA cuts each utterance into the chunks training used
        (C frames, ``overlap`` shared) and averages their log-posteriors; the row of an utterance
        shorter than C is NaN (it has no chunk).
        """
        if self.name == "blstmatt":
            return self.model(x, lengths).log_posteriors()
        offsets = torch.arange(self.context, device=x.device)  # (C,)
        chunks, owners = [], []
        for b, length in enumerate(lengths.tolist()):
            starts = torch.as_tensor(chunk_starts(length, self.context, self.overlap), device=x.device)
            chunks.append(x[b][starts[:, None] + offsets].transpose(1, 2))  # (n_b, F, C)
            owners += [b] * len(starts)
        logp = self.model(torch.cat(chunks)).log_posteriors()  # (Σ n_b, K)
        owner = torch.tensor(owners, dtype=torch.long, device=x.device)
        total = torch.zeros(len(lengths), logp.shape[1], device=x.device).index_add(0, owner, logp)
        count = torch.bincount(owner, minlength=len(lengths)).to(logp.dtype)[:, None]  # 0 -> NaN row
        return total / count


def load_trained(path: str | Path, device: str | torch.device = "cpu") -> TrainedModel:
    """The model of a run's model.pt, in eval mode on ``device``."""
    from emocue.models import build_model, model_config

    saved = torch.load(path, map_location=device, weights_only=True)
    model = build_model(saved["model"], model_config(saved["model"], saved["config"]))
    model.load_state_dict(saved["state_dict"])
    return TrainedModel(saved["model"], model.to(device).eval(), list(saved["classes"]), saved["normalisation"],
                        saved["context"], saved["overlap"], saved["best_epoch"])
