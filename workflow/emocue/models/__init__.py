"""The two emotion classifiers of the paper, one module each (read top to bottom like nanoGPT).

- :mod:`emocue.models.blstmatt` — BLSTM with global-mean attention over whole utterances (§3.1).
- :mod:`emocue.models.csa` — convolutions + convolutional self-attention on fixed chunks (§3.2).

:func:`build_model` turns a config section into a model, so training code never names a class;
both models' forward return a :class:`ModelOutput`, so it never branches on one either.
:func:`load_trained` reads a run's model.pt back (:mod:`emocue.models.trained`).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from torch import nn

from emocue.models.blstmatt import BLSTMATT, BLSTMATTConfig
from emocue.models.csa import CSA, CSAConfig
from emocue.models.output import ModelOutput
from emocue.models.trained import TrainedModel, load_trained

MODELS: dict[str, tuple[type[nn.Module], type]] = {
    "blstmatt": (BLSTMATT, BLSTMATTConfig),
    "csa": (CSA, CSAConfig),
}


def model_config(name: str, section: dict[str, Any], **overrides: Any):
    """The model's dataclass config from its config.yaml section (training-only keys ignored)."""
    _, config_cls = MODELS[name]
    names = {f.name for f in fields(config_cls)}
    values = {key: value for key, value in section.items() if key in names}
    values.update(overrides)
    if "kernel_sizes" in values:
        values["kernel_sizes"] = tuple(values["kernel_sizes"])
    return config_cls(**values)


def build_model(name: str, config) -> nn.Module:
    model_cls, _ = MODELS[name]
    return model_cls(config)


__all__ = ["BLSTMATT", "BLSTMATTConfig", "CSA", "CSAConfig", "MODELS", "ModelOutput", "TrainedModel",
           "build_model", "load_trained", "model_config"]
