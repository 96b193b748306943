"""Causal frame deletion: does removing the vowels (or the consonants) change the decision?

Attention says where a model *looks*; deletion asks what it *uses*. For every trained model (BLSTMATT,
and CSA at the context chosen on validation) and every test utterance u with true class y:

* **Class deletion.** All vowel frames are replaced by a neutral filler, and separately an equal
  number k of consonant frames, drawn at random (``draws`` times). When an utterance has more vowel
  than consonant frames, k = its consonant count and the vowel frames are drawn too, so both arms
  always delete the same number of frames. Measured: Δ_class(u) = log p(y | x with the frames
  replaced) − log p(y | x), averaged over draws, and whether the decision is still right.
* **Deletion curve.** The top-k % of all frames ranked by attention (BLSTMATT's own α), by
  Integrated Gradients (``emocue.attributions``) or at random are replaced, k = 0 … 50 %, and the
  accuracy at each k is recorded. A faithful ranking makes accuracy fall fastest.

**Filler.** Features are normalised per speaker (``features.normalisation: speaker``), so the
default filler ``zeros`` is the speaker's average frame over all of their audio, every emotion
together: it carries no information about the utterance. ``utterance_mean`` (the utterance's own
mean frame) and ``interpolate`` (linear in time between the nearest kept frames, per bin) are also
computed; both leak some of the deleted frames' content (the mean includes them; interpolation
keeps their neighbours' shape), which is why they are not the default. The verdicts of all three
are tabulated so that a reader can check the choice does not flip a conclusion.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from emocue.attention import CLASS_CODES, Curves, frame_classes, map_tokens
from emocue.config import section_defaults
from emocue.phones import CONSONANT, VOWEL

log = logging.getLogger(__name__)

FILLERS = ("zeros", "utterance_mean", "interpolate")
DEFAULT_FILLER = "zeros"
RANKINGS = ("attention", "integrated_gradients", "random")
VARIANTS_PER_BATCH = 16  # variants of one utterance scored per forward pass (bounds memory on long utterances)


@dataclass(frozen=True)
class DeletionSettings:
    draws: int  # random consonant (and, if needed, vowel) draws per utterance
    fractions: tuple[float, ...]  # deletion-curve k
    seed: int

    @classmethod
    def from_config(cls, section: dict, seed: int) -> DeletionSettings:
        return cls(draws=int(section["deletion_draws"]),
                   fractions=tuple(float(k) for k in section["deletion_fractions"]), seed=seed)

    @classmethod
    def defaults(cls, seed: int = 0, **overrides) -> DeletionSettings:
        """The schema's `validation.deletion_*` defaults (their one place), with ``overrides``."""
        return replace(cls.from_config(section_defaults("validation"), seed), **overrides)


# ---- the test utterances of one run -------------------------------------------------------------
@dataclass(frozen=True)
class TestUtterances:
    """Normalised features, true class and per-frame phone class of a run's test utterances."""

    utt_ids: list[str]
    labels: np.ndarray  # (U,) class index
    emotions: list[str]
    feats: list[np.ndarray]  # U × (T, F) float32, normalised as in training
    classes: list[np.ndarray]  # U × (T,) int8: CLASS_CODES (1 vowel, 2 consonant), 0 elsewhere
    __test__ = False

    def __len__(self) -> int:
        return len(self.utt_ids)

    def subset(self, keep: Sequence[int]) -> TestUtterances:
        return TestUtterances([self.utt_ids[i] for i in keep], self.labels[list(keep)],
                              [self.emotions[i] for i in keep], [self.feats[i] for i in keep],
                              [self.classes[i] for i in keep])


def frame_class_codes(utt_ids: Sequence[str], lengths: Sequence[int], intervals: pl.DataFrame) -> list[np.ndarray]:
    """Per utterance, the (T,) class code of every frame from its phone intervals (the attention
    stage's frame mapping, so both stages agree frame by frame)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    curves = Curves(np.asarray(utt_ids, dtype=str), offsets, np.ones(int(offsets[-1])))
    phones = map_tokens(curves, intervals, pl.DataFrame({"utt_id": list(utt_ids)}), "phone")
    codes = frame_classes(curves, phones)
    return [codes[a:b] for a, b in zip(offsets[:-1], offsets[1:])]


def select_test_utterances(table: pl.DataFrame, matrices: dict[str, np.ndarray], predictions: pl.DataFrame,
                           intervals: pl.DataFrame, classes: Sequence[str]) -> TestUtterances:
    """The run's test utterances (rows of its predictions table) that have features."""
    wanted = predictions["utt_id"].to_list()
    missing = [u for u in wanted if u not in matrices]
    if missing:
        raise ValueError(f"{len(missing)} test utterances of the run have no features (e.g. {missing[:3]}); "
                         "rerun `snakemake features`")
    label_of = dict(table.select("utt_id", "label").iter_rows())
    feats = [matrices[u] for u in wanted]
    emotions = [label_of[u] for u in wanted]
    index = {name: i for i, name in enumerate(classes)}
    return TestUtterances(wanted, np.array([index[e] for e in emotions]), emotions, feats,
                          frame_class_codes(wanted, [len(f) for f in feats], intervals))


# ---- fillers --------------------------------------------------------------------------------------
def fill(x: np.ndarray, deleted: np.ndarray, filler: str) -> np.ndarray:
    """x (T, F) with the frames where ``deleted`` (T,) bool is True replaced by ``filler``."""
    out = x.copy()
    if not deleted.any():
        return out
    if filler == "zeros":
        out[deleted] = 0.0
    elif filler == "utterance_mean":
        out[deleted] = x.mean(axis=0)
    elif filler == "interpolate":
        kept = np.flatnonzero(~deleted)
        if kept.size == 0:
            out[:] = 0.0
        else:
            gone = np.flatnonzero(deleted)
            for f in range(x.shape[1]):
                out[gone, f] = np.interp(gone, kept, x[kept, f])
    else:
        raise ValueError(f"unknown deletion filler {filler!r}; expected one of {FILLERS}")
    return out


# ---- scoring many variants of one utterance -----------------------------------------------------
def true_class_logp(score, variants: list[np.ndarray], label: int) -> tuple[np.ndarray, np.ndarray]:
    """(V,) log p(label | variant) and (V,) predicted class for same-length variants (T, F) of one
    utterance.

    ``score(x (B, T, F), lengths (B,)) -> (B, K)`` log-posteriors, e.g.
    ``emocue.models.TrainedModel.utterance_log_posteriors``.
    """
    import torch

    parts = []
    with torch.no_grad():
        for start in range(0, len(variants), VARIANTS_PER_BATCH):
            x = torch.from_numpy(np.stack(variants[start: start + VARIANTS_PER_BATCH]).astype(np.float32))
            parts.append(score(x, torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)))
    logp = torch.cat(parts)
    return logp[:, label].double().numpy(), logp.argmax(dim=1).numpy()


def deletion_masks(classes: np.ndarray, draws: int, rng: np.random.Generator) -> tuple[list, list, int]:
    """(vowel masks, consonant masks, k): equal-size deletions of each class (see module docstring)."""
    vowels = np.flatnonzero(classes == CLASS_CODES[VOWEL])
    consonants = np.flatnonzero(classes == CLASS_CODES[CONSONANT])
    k = min(vowels.size, consonants.size)

    def masks(frames: np.ndarray) -> list[np.ndarray]:
        chosen = [frames] if frames.size == k else [rng.choice(frames, k, replace=False) for _ in range(draws)]
        out = []
        for picked in chosen:
            mask = np.zeros(classes.size, dtype=bool)
            mask[picked] = True
            out.append(mask)
        return out

    return masks(vowels), masks(consonants), k


def class_deletion(score, utterances: TestUtterances, settings: DeletionSettings,
                   fillers: Sequence[str] = FILLERS) -> pl.DataFrame:
    """One row per (utterance, filler): Δ log p(y) and correctness after deleting vowels / consonants."""
    rows = []
    for u, utt_id in enumerate(utterances.utt_ids):
        x, classes, label = utterances.feats[u], utterances.classes[u], int(utterances.labels[u])
        rng = np.random.default_rng([settings.seed, u])
        vowel_masks, consonant_masks, k = deletion_masks(classes, settings.draws, rng)
        if k == 0:
            continue
        for filler in fillers:
            variants = [x] + [fill(x, m, filler) for m in vowel_masks + consonant_masks]
            logp, pred = true_class_logp(score, variants, label)
            n_v = len(vowel_masks)
            rows.append({
                "utt_id": utt_id, "emotion": utterances.emotions[u], "filler": filler,
                "n_frames": int(classes.size), "n_deleted": int(k),
                "vowel_frames": int((classes == CLASS_CODES[VOWEL]).sum()),
                "consonant_frames": int((classes == CLASS_CODES[CONSONANT]).sum()),
                "logp": float(logp[0]), "correct": bool(pred[0] == label),
                "delta_vowel": float(np.mean(logp[1: 1 + n_v] - logp[0])),
                "delta_consonant": float(np.mean(logp[1 + n_v:] - logp[0])),
                "correct_vowel_deleted": float(np.mean(pred[1: 1 + n_v] == label)),
                "correct_consonant_deleted": float(np.mean(pred[1 + n_v:] == label)),
            })
    return pl.DataFrame(rows, schema=DELETION_SCHEMA)


DELETION_SCHEMA = {
    "utt_id": pl.String, "emotion": pl.String, "filler": pl.String, "n_frames": pl.Int64,
    "n_deleted": pl.Int64, "vowel_frames": pl.Int64, "consonant_frames": pl.Int64, "logp": pl.Float64,
    "correct": pl.Boolean, "delta_vowel": pl.Float64, "delta_consonant": pl.Float64,
    "correct_vowel_deleted": pl.Float64, "correct_consonant_deleted": pl.Float64,
}


def top_fraction_mask(scores: np.ndarray, fraction: float) -> np.ndarray:
    """(T,) bool: the round(fraction · T) frames with the highest scores (ties: earliest first)."""
    count = int(round(fraction * scores.size))
    mask = np.zeros(scores.size, dtype=bool)
    mask[np.argsort(-scores, kind="stable")[:count]] = True
    return mask


def deletion_curve(score, utterances: TestUtterances, rankings: dict[str, list[np.ndarray]],
                   settings: DeletionSettings, filler: str = DEFAULT_FILLER) -> pl.DataFrame:
    """Accuracy after deleting the top-k % frames of each ranking (plus ``random``, mean over draws).

    ``rankings`` maps a ranking name to one (T,) score array per utterance (higher = deleted first).
    One row per (ranking, fraction, utterance): ``correct`` (share of draws for random) and Δ log p(y).
    """
    rows = []
    for u, utt_id in enumerate(utterances.utt_ids):
        x, label, length = utterances.feats[u], int(utterances.labels[u]), len(utterances.feats[u])
        rng = np.random.default_rng([settings.seed, u, 1])
        plan = [(name, k, top_fraction_mask(scores[u], k)) for name, scores in rankings.items()
                for k in settings.fractions]
        plan += [("random", k, top_fraction_mask(rng.random(length), k))
                 for k in settings.fractions for _ in range(settings.draws)]
        logp, pred = true_class_logp(score, [x] + [fill(x, mask, filler) for *_, mask in plan], label)
        frame = pl.DataFrame({"ranking": [p[0] for p in plan], "fraction": [p[1] for p in plan],
                              "correct": pred[1:] == label, "delta_logp": logp[1:] - logp[0]})
        rows.append(frame.group_by("ranking", "fraction", maintain_order=True).agg(
            pl.col("correct").cast(pl.Float64).mean(), pl.col("delta_logp").mean(),
        ).with_columns(pl.lit(utt_id).alias("utt_id")))
    return pl.concat(rows).select("utt_id", "ranking", "fraction", "correct", "delta_logp")


def curve_summary(curve: pl.DataFrame) -> pl.DataFrame:
    """Accuracy and mean Δ log p(y) per (model, ranking, fraction) over utterances (and seeds)."""
    keys = [c for c in ("model", "ranking", "fraction") if c in curve.columns]
    return curve.group_by(keys).agg(
        pl.col("correct").mean().alias("accuracy"), pl.col("delta_logp").mean().alias("mean_delta_logp"),
        pl.len().alias("n"),
    ).sort(keys)


def write_table(table: pl.DataFrame, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.write_parquet(path)
