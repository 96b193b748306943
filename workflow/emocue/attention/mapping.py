"""Attention curves and their mapping onto phone and word intervals (Sec. 4.3 inputs).

Attention α_t is joined with the alignment's ``start_frame``/``end_frame`` (the one frame↔time rule,
``docs/outputs.md``); values are *normalised attention* a_t = α_t·T (1.0 = uniform).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from emocue.attention.settings import CLASS_CODES
from emocue.phones import ARPABET_STRESS

# ---- attention curves ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Curves:
    """U attention curves stored flat: ``weights[offsets[u]:offsets[u+1]]`` is α of ``utt_ids[u]``."""

    utt_ids: np.ndarray  # (U,) str
    offsets: np.ndarray  # (U + 1,) int64
    weights: np.ndarray  # (N,) float64, Σ = 1 per utterance

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def frame_owner(self) -> np.ndarray:
        """(N,) utterance position of every frame."""
        return np.repeat(np.arange(self.utt_ids.size), self.lengths)

    def normalised(self) -> np.ndarray:
        """a_t = α_t · T, flat (N,)."""
        return self.weights * np.repeat(self.lengths, self.lengths)

    def frame_index(self) -> np.ndarray:
        """(N,) frame t of every frame within its utterance (0..T−1)."""
        return np.arange(self.offsets[-1]) - np.repeat(self.offsets[:-1], self.lengths)

    def relative_position(self) -> np.ndarray:
        """(N,) frame centre as a fraction of the utterance, (t + 0.5) / T."""
        return (self.frame_index() + 0.5) / np.repeat(self.lengths, self.lengths)


def curves_from_table(attention: pl.DataFrame) -> Curves:
    """Curves from an ``attention.parquet`` table (utt_id, frame, weight).

    Frames must run 0..T−1 without gaps; weights are renormalised to sum to 1 (float32 storage).
    """
    attention = attention.select("utt_id", "frame", "weight").sort("utt_id", "frame")
    per_utt = attention.group_by("utt_id", maintain_order=True).agg(
        pl.len().alias("T"), pl.col("frame").min().alias("first"), pl.col("frame").max().alias("last")
    )
    broken = per_utt.filter((pl.col("first") != 0) | (pl.col("last") != pl.col("T") - 1))
    if broken.height:
        raise ValueError(
            f"attention table: frames of {broken.height} utterances do not run 0..T-1 without gaps "
            f"(e.g. {broken['utt_id'][0]!r}); re-run the training stage that wrote it"
        )
    lengths = per_utt["T"].to_numpy().astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    weights = attention["weight"].to_numpy().astype(np.float64)
    totals = np.add.reduceat(weights, offsets[:-1]) if weights.size else np.zeros(0)
    weights = weights / np.repeat(totals, lengths)
    return Curves(per_utt["utt_id"].to_numpy().astype(str), offsets, weights)


# ---- mapping intervals onto frames ---------------------------------------------------------------
def interval_attention(curves: Curves, utt_pos: np.ndarray, start_frame: np.ndarray,
                       end_frame: np.ndarray) -> dict[str, np.ndarray]:
    """Frames, attention mass Σα and mean normalised attention of each interval (vectorised).

    Intervals are ``[start_frame, end_frame)`` of utterance ``utt_pos``, clipped to [0, T]; a
    zero-frame interval has mass 0 and a NaN mean.
    """
    lengths = curves.lengths[utt_pos]
    start = np.clip(start_frame, 0, lengths)
    end = np.clip(end_frame, start, lengths)
    cumulative = np.concatenate([[0.0], np.cumsum(curves.weights)])
    base = curves.offsets[utt_pos]
    mass = cumulative[base + end] - cumulative[base + start]
    n_frames = end - start
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_attention = np.where(n_frames > 0, mass * lengths / n_frames, np.nan)
    return {
        "clipped_start_frame": start,
        "n_frames": n_frames,
        "attention_mass": mass,
        "mean_attention": mean_attention,
        "relative_position": (start + end) / 2.0 / lengths,
    }


def frame_codes(curves: Curves, tokens: pl.DataFrame, codes: np.ndarray) -> np.ndarray:
    """(N,) per-frame code of the token covering it (0 where none) from tokens with ``utt_pos``."""
    base = curves.offsets[tokens["utt_pos"].to_numpy()]
    start = tokens["clipped_start_frame"].to_numpy()
    end = start + tokens["n_frames"].to_numpy()
    # Tokens of one tier do not overlap, so a +code/−code difference array marks every frame once.
    marks = np.zeros(curves.offsets[-1] + 1, dtype=np.int64)
    np.add.at(marks, base + start, codes)
    np.add.at(marks, base + end, -np.asarray(codes))
    return np.cumsum(marks[:-1])


def frame_classes(curves: Curves, phones: pl.DataFrame) -> np.ndarray:
    """(N,) class code per frame (1 vowel, 2 consonant, 0 else) from phone tokens."""
    codes = phones["phone_class"].replace_strict(CLASS_CODES, default=0).to_numpy()
    return frame_codes(curves, phones, codes).astype(np.int8)


def map_tokens(curves: Curves, intervals: pl.DataFrame, utterances: pl.DataFrame,
               tier: str) -> pl.DataFrame:
    """Token table of one tier (``phone`` or ``word``) for the utterances that have a curve.

    ``utterances`` carries the per-utterance columns (fold, session, speaker, emotion, pred,
    correct, confidence) that every token repeats.
    """
    positions = pl.DataFrame({"utt_id": curves.utt_ids, "utt_pos": np.arange(curves.utt_ids.size),
                              "n_utt_frames": curves.lengths})
    tokens = (
        intervals.filter(pl.col("tier") == tier)
        .join(positions, on="utt_id", how="inner")
        .sort("utt_pos", "index")
    )
    if tier == "word":
        tokens = tokens.filter(pl.col("label").str.strip_chars().str.len_chars() > 0)
    values = interval_attention(curves, tokens["utt_pos"].to_numpy(),
                                tokens["start_frame"].to_numpy(), tokens["end_frame"].to_numpy())
    tokens = tokens.with_columns(
        *(pl.Series(name, column) for name, column in values.items()),
        (pl.col("end_s") - pl.col("start_s")).alias("duration_s"),
    ).join(utterances, on="utt_id", how="left")
    if tier == "phone":
        tokens = tokens.with_columns(
            pl.col("label").alias("phone"),
            pl.col("label").str.replace(ARPABET_STRESS.pattern, "$1").alias("phone_base"),
            pl.col("word").str.to_lowercase(),
        )
        label_columns = ["phone", "phone_base", "phone_class", "word", "word_index"]
    else:
        tokens = tokens.with_columns(pl.col("label").str.to_lowercase().alias("word"))
        label_columns = ["word"]
    return tokens.select(
        "utt_id", "utt_pos", *utterances.columns[1:], "index", *label_columns,
        "start_s", "end_s", "duration_s", "start_frame", "end_frame", "clipped_start_frame",
        "n_frames", "n_utt_frames", "mean_attention", "attention_mass", "relative_position",
    )

