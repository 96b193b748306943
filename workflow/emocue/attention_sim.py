"""Synthetic alignments and attention curves for calibrating the attention tests.

Used by the calibration unit tests and the speed benchmark. Every utterance is a leading silence,
a run of phones (vowel/consonant, durations 3–15 frames) grouped into words, and a trailing
silence. Attention is smooth and autocorrelated like BLSTMATT's: Gaussian white noise smoothed
over ``smoothness`` frames, plus optional planted effects, through a softmax over the frames:

    z_t = noise_scale · smooth(ε)_t + vowel_effect · [t is a vowel frame] + position_effect · t/T
    α_t = softmax(z)_t

With ``vowels_late`` the chance that a phone is a vowel rises from 0.1 to 0.7 over the utterance,
so a position effect alone makes vowels look attended. Everything is drawn for all utterances at
once (arrays of shape (U, P) phones and (U, T_max) frames).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl

from emocue.attention import CLASS_CODES, CONSONANT, VOWEL, Curves

VOWEL_LABELS = ("AA1", "IY1", "EH1", "OW1", "AH0")
CONSONANT_LABELS = ("T", "S", "N", "K", "D", "M", "L", "R")
WORDS = ("know", "yeah", "what", "okay", "right", "time", "really", "money", "here", "well")
EMOTIONS = ("neutral", "happy", "angry", "sad")
FRAME_S = 0.010
SILENCE_FRAMES = (5, 25)  # leading silence length range; trailing silence is at least 5 frames


@dataclass(frozen=True)
class SimulationSpec:
    n_utterances: int = 60
    min_frames: int = 150
    max_frames: int = 350
    smoothness: float = 4.0
    noise_scale: float = 1.0
    vowel_effect: float = 0.0
    position_effect: float = 0.0
    vowels_late: bool = False
    accuracy: float = 0.6


@dataclass(frozen=True)
class Simulation:
    curves: Curves
    classes: np.ndarray  # (N,) frame class codes
    phones: pl.DataFrame  # utt_id, index, start_frame, end_frame, label, phone_class, word_index
    words: pl.DataFrame  # utt_id, index, start_frame, end_frame, label
    emotions: np.ndarray  # (U,) true label
    correct: np.ndarray  # (U,) bool

    @cached_property
    def intervals(self) -> pl.DataFrame:
        """The alignment table in the contract format of ``results/align/<session>.intervals``."""
        def seconds(frame: pl.Expr) -> pl.Expr:  # inside frame `frame`'s centre rule: ceil → frame
            return frame * FRAME_S + 0.008

        words = self.words.with_columns(pl.lit("word").alias("tier"),
                                        pl.lit(None, pl.String).alias("phone_class"),
                                        pl.col("label").alias("word"),
                                        pl.col("index").alias("word_index"))
        phones = self.phones.join(
            self.words.select("utt_id", pl.col("index").alias("word_index"),
                              pl.col("label").alias("word")),
            on=["utt_id", "word_index"], how="left",
        ).with_columns(pl.lit("phone").alias("tier"))
        columns = ["utt_id", "tier", "index", "label", "start_frame", "end_frame", "phone_class",
                   "word", "word_index"]
        return pl.concat([phones.select(columns), words.select(columns)]).with_columns(
            seconds(pl.col("start_frame")).alias("start_s"), seconds(pl.col("end_frame")).alias("end_s"),
            pl.col("index").cast(pl.Int32), pl.col("word_index").cast(pl.Int32),
            pl.col("start_frame").cast(pl.Int32), pl.col("end_frame").cast(pl.Int32),
        )

    @cached_property
    def attention(self) -> pl.DataFrame:
        return pl.DataFrame({
            "utt_id": np.repeat(self.curves.utt_ids, self.curves.lengths),
            "frame": self.curves.frame_index().astype(np.int32),
            "weight": self.curves.weights.astype(np.float32),
        })

    @cached_property
    def predictions(self) -> pl.DataFrame:
        """Predictions table (label, pred, log-posteriors: 0.7 on the predicted class)."""
        labels = np.asarray(EMOTIONS)
        true = self.emotions
        # A wrong prediction is the next emotion in EMOTIONS (cyclically).
        following = labels[(np.array([EMOTIONS.index(e) for e in true]) + 1) % labels.size]
        pred = np.where(self.correct, true, following)
        columns = {"utt_id": self.curves.utt_ids, "label": true, "pred": pred}
        for label in labels:
            columns[f"logp_{label}"] = np.log(np.where(pred == label, 0.7, 0.1))
        return pl.DataFrame(columns)

    @cached_property
    def manifest(self) -> pl.DataFrame:
        speakers = np.where(np.arange(self.curves.utt_ids.size) % 2 == 0, "Sim05F", "Sim05M")
        return pl.DataFrame({"utt_id": self.curves.utt_ids, "session": "Session5",
                             "speaker": speakers, "label": self.emotions})


def _smoothed_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian white noise smoothed along axis 1, rescaled to unit variance."""
    from scipy.ndimage import gaussian_filter1d

    noise = gaussian_filter1d(rng.standard_normal(shape), sigma, axis=1, mode="wrap")
    return noise / noise.std()


def simulate(spec: SimulationSpec, seed: int) -> Simulation:
    """Draw one synthetic study: U aligned utterances with attention curves."""
    rng = np.random.default_rng(seed)
    n_utt = spec.n_utterances
    lengths = rng.integers(spec.min_frames, spec.max_frames + 1, n_utt)
    max_phones = spec.max_frames // 3

    # Phone segmentation (U, P): starts after the leading silence, kept while ending ≥ 5 frames
    # before the utterance end.
    lead = rng.integers(*SILENCE_FRAMES, n_utt)
    durations = rng.integers(3, 16, (n_utt, max_phones))
    ends = lead[:, None] + np.cumsum(durations, axis=1)
    starts = ends - durations
    valid = ends <= (lengths - 5)[:, None]
    centre = (starts + ends) / 2.0 / lengths[:, None]
    vowel_chance = 0.1 + 0.6 * centre if spec.vowels_late else np.full(centre.shape, 0.4)
    is_vowel = rng.random(centre.shape) < vowel_chance
    word_index = np.cumsum(rng.random(centre.shape) < 0.3, axis=1)
    word_index -= word_index[:, :1]

    utt_ids = np.array([f"Sim05_{i:05d}" for i in range(n_utt)])
    rows, cols = np.nonzero(valid)
    phone_labels = np.where(
        is_vowel[rows, cols],
        np.asarray(VOWEL_LABELS)[rng.integers(0, len(VOWEL_LABELS), rows.size)],
        np.asarray(CONSONANT_LABELS)[rng.integers(0, len(CONSONANT_LABELS), rows.size)],
    )
    phones = pl.DataFrame({
        "utt_id": utt_ids[rows], "index": cols + 1, "start_frame": starts[rows, cols],
        "end_frame": ends[rows, cols], "label": phone_labels,
        "phone_class": np.where(is_vowel[rows, cols], VOWEL, CONSONANT),
        "word_index": word_index[rows, cols],
    })
    words = (
        phones.group_by("utt_id", "word_index", maintain_order=True)
        .agg(pl.col("start_frame").min(), pl.col("end_frame").max())
        .rename({"word_index": "index"})
    )
    words = words.with_columns(
        pl.Series("label", np.asarray(WORDS)[rng.integers(0, len(WORDS), words.height)])
    )

    # Frame classes (U, T_max) and attention logits.
    t_max = int(lengths.max())
    frame = np.arange(t_max)
    in_utt = frame[None, :] < lengths[:, None]
    frame_class = np.zeros((n_utt, t_max), dtype=np.int8)
    codes = np.where(is_vowel, CLASS_CODES[VOWEL], CLASS_CODES[CONSONANT]) * valid
    # Each frame's phone: the number of phone starts at or before it (phones are contiguous).
    phone_of_frame = np.sum(starts[:, None, :] <= frame[None, :, None], axis=2) - 1
    inside = (phone_of_frame >= 0) & (
        frame[None, :] < np.take_along_axis(ends, np.maximum(phone_of_frame, 0), axis=1))
    frame_class[inside] = np.take_along_axis(codes, np.maximum(phone_of_frame, 0), axis=1)[inside]
    logits = spec.noise_scale * _smoothed_noise(rng, (n_utt, t_max), spec.smoothness)
    logits += spec.vowel_effect * (frame_class == CLASS_CODES[VOWEL])
    logits += spec.position_effect * frame[None, :] / lengths[:, None]
    logits = np.where(in_utt, logits, -np.inf)
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)

    offsets = np.concatenate([[0], np.cumsum(lengths)])
    curves = Curves(utt_ids, offsets, weights[in_utt])
    emotions = np.asarray(EMOTIONS)[rng.integers(0, len(EMOTIONS), n_utt)]
    correct = rng.random(n_utt) < spec.accuracy
    return Simulation(curves, frame_class[in_utt], phones, words, emotions, correct)
