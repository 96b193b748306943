"""Train / validation / test split of one fold (``split`` config section).

Test: the fold's held-out part — a session (``split.scheme: session5 | loso``) or a speaker
(``loso_speaker``; folds are named after the speaker). Nothing of it is used for any choice.

Validation: drawn from the remaining (training) utterances, seeded, in one of two ways
(``split.validation``):

* ``stratified`` — a fraction of every class, spread over the speakers in proportion; the same
  speakers are in training. The classes share round(fraction · N) utterances in proportion, each
  at least ``split.validation_min_per_class``, and each class's share is spread over its speakers
  (allocating over (speaker, label) cells by largest remainder,
  as before, let a class with small cells — 4 neutral per speaker at fraction 0.1 — get none).
* ``speaker_disjoint`` — whole speakers are held out of training (seeded order) until validation
  holds the fraction of the utterances and the minimum of every class. Same-speaker validation
  overstates how well a model generalises to the unseen test speakers, so ``auto`` (the default)
  chooses this whenever the training part has at least ``SPEAKER_DISJOINT_MIN_SPEAKERS`` speakers.

:func:`composition` counts the utterances of every (split, speaker, label); training logs it and
writes it to ``metrics.json`` (``split_composition``) for the report.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from emocue.config import section_defaults

log = logging.getLogger(__name__)

SCHEMES = ("session5", "loso", "loso_speaker")
VALIDATION_MODES = ("auto", "stratified", "speaker_disjoint")
SPEAKER_DISJOINT_MIN_SPEAKERS = 4  # auto: fewer training speakers than this -> stratified


class SplitError(ValueError):
    """A fold whose validation split cannot meet the ``split`` settings; names the keys to change."""


@dataclass
class Split:
    """Utterances of one split: normalised (T, F) matrices and class indices."""

    name: str
    utt_ids: list[str]
    labels: np.ndarray  # (U,) int64
    feats: list[np.ndarray]  # U × (T, F) float32

    def __len__(self) -> int:
        return len(self.utt_ids)


@dataclass(frozen=True)
class SplitSettings:
    scheme: str
    validation: str
    validation_fraction: float
    min_per_class: int

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SplitSettings:
        split = config["split"]
        return cls(scheme=split["scheme"], validation=split["validation"],
                   validation_fraction=split["validation_fraction"],
                   min_per_class=split["validation_min_per_class"])

    @classmethod
    def defaults(cls, **overrides) -> SplitSettings:
        """The schema's `split` defaults (their one place), with ``overrides``."""
        return replace(cls.from_config({"split": section_defaults("split")}), **overrides)


def held_out_mask(table: pl.DataFrame, fold: str, scheme: str) -> pl.Series:
    """Which rows of a manifest table are the fold's test utterances."""
    column = "speaker" if scheme == "loso_speaker" else "session"
    return table[column] == fold


def validation_mode(mode: str, speakers: Sequence[str]) -> str:
    """``auto`` resolved: speaker_disjoint with ≥ SPEAKER_DISJOINT_MIN_SPEAKERS speakers."""
    if mode != "auto":
        return mode
    return "speaker_disjoint" if len(set(speakers)) >= SPEAKER_DISJOINT_MIN_SPEAKERS else "stratified"


def largest_remainder(shares: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Integers summing to ``total`` (≤ ceil of each share): floors, plus one for the largest
    remainders (ties broken by ``rng``)."""
    take = np.floor(shares).astype(int)
    tie_break = rng.permutation(len(shares))
    order = tie_break[np.argsort(-(shares - take)[tie_break], kind="stable")]
    take[order[: total - int(take.sum())]] += 1
    return take


def class_quotas(labels: np.ndarray, fraction: float, min_per_class: int,
                 rng: np.random.Generator) -> dict[str, int]:
    """Validation utterances per class: round(fraction · N) shared over the classes in proportion,
    then raised to ≥ min_per_class; each class keeps ≥ 1 utterance for training."""
    names, counts = np.unique(labels, return_counts=True)
    too_small = [f"{name} ({count})" for name, count in zip(names, counts) if count <= min_per_class]
    if too_small:
        raise SplitError(
            f"classes {too_small} have at most split.validation_min_per_class = {min_per_class} "
            "training utterances, so validation cannot hold that many and leave some for training; "
            "lower split.validation_min_per_class or drop the class (corpus.classes)")
    take = largest_remainder(fraction * counts, int(round(fraction * counts.sum())), rng)
    return {name: int(min(max(min_per_class, n), count - 1)) for name, n, count in zip(names, take, counts)}


def stratified_validation(speakers: Sequence[str], labels: Sequence[str], fraction: float, seed: int,
                          min_per_class: int = 1) -> np.ndarray:
    """Boolean validation mask: per class its quota (:func:`class_quotas`), spread over that class's
    speakers in proportion to their counts (largest remainders get the rounding, ties by the seed)."""
    rng = np.random.default_rng(seed)
    speakers, labels = np.asarray(speakers), np.asarray(labels)
    mask = np.zeros(len(labels), dtype=bool)
    for label, quota in class_quotas(labels, fraction, min_per_class, rng).items():
        members = np.flatnonzero(labels == label)
        cells, inverse, counts = np.unique(speakers[members], return_inverse=True, return_counts=True)
        take = largest_remainder(quota * counts / counts.sum(), quota, rng)
        for cell in range(len(cells)):
            mask[rng.choice(members[inverse == cell], size=take[cell], replace=False)] = True
    return mask


def speaker_disjoint_validation(speakers: Sequence[str], labels: Sequence[str], fraction: float, seed: int,
                                min_per_class: int = 1) -> np.ndarray:
    """Boolean validation mask of whole speakers, taken in a seeded order until validation holds
    ≥ fraction of the utterances and ≥ min_per_class of every class; training keeps every class."""
    speakers, labels = np.asarray(speakers), np.asarray(labels)
    classes = sorted(set(labels.tolist()))
    order = np.random.default_rng(seed).permutation(sorted(set(speakers.tolist())))
    mask = np.zeros(len(labels), dtype=bool)
    for speaker in order:
        counts = {c: int(np.sum(mask & (labels == c))) for c in classes}
        if mask.sum() >= fraction * len(labels) and min(counts.values()) >= min_per_class:
            break
        mask |= speakers == speaker
    short = {c: int(np.sum(mask & (labels == c))) for c in classes if np.sum(mask & (labels == c)) < min_per_class}
    left = set(labels[~mask].tolist())
    if short or left != set(classes) or mask.all():
        raise SplitError(
            f"speaker-disjoint validation cannot hold ≥ {min_per_class} utterances of every class "
            f"(short: {short}) and keep every class in training (training lacks "
            f"{sorted(set(classes) - left)}) with these {len(order)} training speakers; set "
            "split.validation: stratified or lower split.validation_min_per_class")
    return mask


VALIDATION_FUNCTIONS = {"stratified": stratified_validation, "speaker_disjoint": speaker_disjoint_validation}


def split_tables(table: pl.DataFrame, fold: str, settings: SplitSettings, seed: int) -> dict[str, pl.DataFrame]:
    """The train / val / test rows of a manifest table (utt_id, speaker, session, label, ...)."""
    is_test = held_out_mask(table, fold, settings.scheme)
    test, rest = table.filter(is_test), table.filter(~is_test)
    if test.height == 0:
        held_out = "speaker" if settings.scheme == "loso_speaker" else "session"
        raise SplitError(f"no utterances of test {held_out} {fold!r} in the manifests "
                         f"(split.scheme: {settings.scheme}); check the fold names against the corpus")
    mode = validation_mode(settings.validation, rest["speaker"].to_list())
    is_val = VALIDATION_FUNCTIONS[mode](rest["speaker"].to_list(), rest["label"].to_list(),
                                        settings.validation_fraction, seed, settings.min_per_class)
    log.info("fold %s: %s validation (split.validation: %s), %d of %d training-part utterances",
             fold, mode, settings.validation, int(is_val.sum()), rest.height)
    return {"train": rest.filter(~pl.Series(is_val)), "val": rest.filter(pl.Series(is_val)), "test": test}


def make_splits(table: pl.DataFrame, matrices: dict[str, np.ndarray], fold: str, settings: SplitSettings,
                seed: int) -> dict[str, Split]:
    """Splits of one fold; ``table`` needs utt_id, speaker, session, label and y (class index)."""
    return {
        name: Split(name, part["utt_id"].to_list(), part["y"].to_numpy().astype(np.int64),
                    [matrices[u] for u in part["utt_id"].to_list()])
        for name, part in split_tables(table, fold, settings, seed).items()
    }


def composition(table: pl.DataFrame, splits: dict[str, Sequence[str]]) -> pl.DataFrame:
    """Utterances per (split, label) with the number of speakers: split, label, n, n_speakers."""
    split_of = {utt_id: name for name, utt_ids in splits.items() for utt_id in utt_ids}
    return (table.filter(pl.col("utt_id").is_in(list(split_of)))
            .with_columns(split=pl.col("utt_id").replace_strict(split_of))
            .group_by("split", "label")
            .agg(n=pl.len(), n_speakers=pl.col("speaker").n_unique())
            .sort("split", "label"))
