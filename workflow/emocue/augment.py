"""Training-data augmentation and loss weighting (``augment`` and ``train`` config sections).

All of it touches training data only: validation and test are never perturbed, masked or
reweighted, so every selection and every reported number is on clean data.

* Speed perturbation (Ko et al., Interspeech 2015; Kaldi ``perturb_data_dir_speed.sh``, SpeechBrain
  ``SpeedPerturb``): the waveform is resampled as if it had been recorded at ``factor`` × the
  sample rate, which changes tempo and pitch together (sox ``speed``). Features of the perturbed
  copies are computed in the feature stage, for training sessions only, and cached there; each
  perturbed copy is treated as its own speaker for normalisation statistics, as Kaldi does.
* SpecAugment-style masking (Park et al., Interspeech 2019), without time warping: ``time_masks``
  masks of up to ``time_mask_width`` frames and ``freq_masks`` of up to ``freq_mask_width`` mel
  bins per utterance (``torchaudio.transforms.TimeMasking`` / ``FrequencyMasking``, independent per
  batch item), set to 0 — the mean of normalised features.
* Class-balanced loss weights: w_k = N / (K · N_k) over the training utterances (scikit-learn's
  ``class_weight="balanced"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from emocue.config import section_defaults

SPEED_PREFIX = "sp"  # perturbed copy of utterance U at factor f: utt_id "sp<f>-U", speaker "sp<f>-S"


def speed_tag(factor: float) -> str:
    """``sp0.9`` for factor 0.9: the prefix of a perturbed copy's utterance and speaker ids."""
    return f"{SPEED_PREFIX}{factor:g}"


def speed_factors(config: dict[str, Any]) -> list[float]:
    """The perturbation factors other than 1.0 (the original audio is always used)."""
    return [float(f) for f in config["augment"]["speed_factors"] if float(f) != 1.0]


def speed_perturb(waveform: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """(n,) -> (≈ n / factor,) samples: played ``factor`` × faster, pitch shifted with it."""
    import torch
    import torchaudio.functional

    source_rate = int(round(sample_rate * factor))
    signal = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))
    return torchaudio.functional.resample(signal, source_rate, sample_rate).numpy()


@dataclass(frozen=True)
class SpecAugmentSettings:
    """The `augment.spec_augment` section; no masks (the default) is off."""

    time_masks: int
    time_mask_width: int
    freq_masks: int
    freq_mask_width: int

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SpecAugmentSettings:
        return cls(**config["augment"]["spec_augment"])

    @classmethod
    def defaults(cls, **overrides) -> SpecAugmentSettings:
        """The schema's defaults (their one place), with ``overrides``."""
        return replace(cls(**section_defaults("augment", "spec_augment")), **overrides)

    @property
    def enabled(self) -> bool:
        return self.time_masks > 0 or self.freq_masks > 0


class SpecAugment:
    """Masks a training batch in place of a copy; ``feature_axis`` is where the mel bins are:
    -1 for (B, T, F) (BLSTMATT), 1 for (B, F, T) (CSA chunks)."""

    def __init__(self, settings: SpecAugmentSettings, feature_axis: int):
        import torchaudio.transforms as T

        self.feature_axis = feature_axis
        self.masks = ([T.TimeMasking(settings.time_mask_width, iid_masks=True)] * settings.time_masks
                      + [T.FrequencyMasking(settings.freq_mask_width, iid_masks=True)] * settings.freq_masks)

    def __call__(self, x):
        bins_last = self.feature_axis in (-1, x.dim() - 1)
        spec = x.transpose(1, 2) if bins_last else x  # (B, F, T), as torchaudio expects
        for mask in self.masks:
            spec = mask(spec)
        return spec.transpose(1, 2) if bins_last else spec


def balanced_class_weights(labels: Sequence[int], num_classes: int) -> np.ndarray:
    """(K,) w_k = N / (K · N_k); a class absent from training gets weight 0."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).astype(np.float64)
    return np.divide(len(labels), num_classes * counts, out=np.zeros(num_classes), where=counts > 0)


def with_speed_copies(train, table, speed_features: Sequence[str], speed_stats: Sequence[str],
                      normalisation: str):
    """The training split plus the speed-perturbed copies of its utterances (and of no others).

    ``speed_features`` / ``speed_stats``: the feature stage's files of perturbed copies (utt_id
    ``sp<f>-U``, speaker ``sp<f>-S``); ``table`` maps each original utterance to its speaker.
    Copies of validation or test utterances are never added, even when their files hold them.
    """
    from emocue.features import load_features, normalise
    from emocue.split import Split

    if not speed_features:
        return train
    speaker_of = dict(table.select("utt_id", "speaker").iter_rows())
    label_of = dict(zip(train.utt_ids, train.labels.tolist()))
    utt_ids, labels, feats = list(train.utt_ids), list(train.labels), list(train.feats)
    for feature_path, stats_path in zip(speed_features, speed_stats, strict=True):
        copies = load_features(feature_path)
        originals = [u.split("-", 1)[1] for u in copies.utt_ids.tolist()]
        tags = [u.split("-", 1)[0] for u in copies.utt_ids.tolist()]
        unknown = sorted(set(originals) - set(speaker_of))
        if unknown:
            raise ValueError(f"{feature_path} holds copies of {len(unknown)} utterances the manifests do not have "
                             f"(e.g. {unknown[:3]}); rerun `snakemake features` after the corpus stage")
        copy_speaker = {u: f"{tag}-{speaker_of[o]}" for u, o, tag in zip(copies.utt_ids.tolist(), originals, tags)}
        copies = normalise(copies, normalisation, pl.read_parquet(stats_path), copy_speaker)
        for i, (utt_id, original) in enumerate(zip(copies.utt_ids.tolist(), originals)):
            if original in label_of:
                utt_ids.append(utt_id)
                labels.append(label_of[original])
                feats.append(copies.feats[copies.offsets[i]: copies.offsets[i + 1]])
    return Split(train.name, utt_ids, np.asarray(labels, dtype=np.int64), feats)
