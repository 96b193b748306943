"""Where does BLSTMATT's attention go? Phone/word mapping and calibrated tests (attention stage).

The paper (Jalal et al. 2020, Sec. 4.3, Fig. 1) reads four attention plots and concludes that the
model attends more to vowels than to consonants and weighs words by acoustic context. Here every
test utterance counts:

* **Mapping.** Attention α_t (t = feature frame, Σ_t α_t = 1) is joined with the phone and word
  intervals of the alignment stage through their ``start_frame``/``end_frame`` (the one frame↔time
  rule, ``docs/outputs.md``). We work with *normalised attention* a_t = α_t·T (1.0 = uniform), so
  utterances of different length T are comparable. Token tables give per phone / word: mean a over
  its frames, attention mass Σα, duration, class, relative position, word, emotion, correctness.
* **Tests** (each a :class:`emocue.stats.TestResult`: statistic, p-value, effect size + CI, n):
  1. paired vowel vs consonant (Wilcoxon signed-rank over utterances, rank-biserial r);
  2. circular-shift null (rotations of each attention curve against its alignment);
  3. vowel attention mass share vs vowel time share;
  4. per phone: mean a vs 1.0 (one-sample Wilcoxon over utterances, BH-FDR across phones);
  5. per word: importance per emotion, Kruskal–Wallis across emotions (BH-FDR across words).
* **Position control.** A rotation keeps the curve's autocorrelation and where the vowels sit,
  but its expected vowel−consonant difference is exactly 0 (mean a is 1 and the class weights sum
  to 0), so it does *not* absorb a systematic trend of attention over the utterance. Variants marked
  ``position_adjusted`` first subtract the pooled attention profile over relative position (binned,
  interpolated) — see README "Attention analysis" for what the simulations show.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from emocue import stats
from emocue.phones import ARPABET_STRESS, CONSONANT, VOWEL

log = logging.getLogger(__name__)

# Per-frame class codes used by the vectorised statistics (silence/other/unaligned frames: 0).
CLASS_CODES = {VOWEL: 1, CONSONANT: 2}
N_CODES = 3
GREATER = "greater"  # the paper's directional claim: vowels get more attention than consonants


@dataclass(frozen=True)
class AttentionSettings:
    n_shifts: int = 1000
    n_bootstrap: int = 2000
    alpha: float = 0.05
    seed: int = 0
    position_bins: int = 10
    min_units: int = 6  # fewest utterances (phones) / tokens per emotion (words) for a test

    @classmethod
    def from_config(cls, section: dict) -> AttentionSettings:
        return cls(
            n_shifts=int(section["n_shifts"]),
            n_bootstrap=int(section["bootstrap"]),
            alpha=float(section["alpha"]),
            seed=int(section["seed"]),
            position_bins=int(section["position_bins"]),
            min_units=int(section["min_units"]),
        )

    def seed_for(self, *keys: str) -> int:
        """A reproducible seed per test and group (independent streams, same across runs)."""
        return self.seed + zlib.crc32("/".join(keys).encode())


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


# ---- per-utterance class summaries ---------------------------------------------------------------
def class_sums(curves: Curves, values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(U, N_CODES) sums of a per-frame ``values`` array by utterance and frame class."""
    keys = curves.frame_owner() * N_CODES + classes
    return np.bincount(keys, weights=values, minlength=curves.utt_ids.size * N_CODES).reshape(
        -1, N_CODES
    )


def position_adjusted(curves: Curves, attention: np.ndarray, n_bins: int) -> np.ndarray:
    """Normalised attention minus the pooled profile over relative position, plus 1 (flat, (N,)).

    The profile is the frame-weighted mean of ``attention`` in ``n_bins`` equal bins of relative
    position, linearly interpolated between bin centres (and extrapolated over the outer half
    bins), so a trend shared by all utterances
    (e.g. attention rising towards the end) is removed while vowel-locked bumps stay.
    """
    position = curves.relative_position()
    bins = np.minimum((position * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    profile = np.bincount(bins, weights=attention, minlength=n_bins) / np.maximum(counts, 1)
    filled = counts > 0
    centres, profile = ((np.arange(n_bins) + 0.5) / n_bins)[filled], profile[filled]
    expected = np.interp(position, centres, profile)
    if centres.size >= 2:  # extend the end segments linearly instead of holding them flat
        for outside, (i, j) in ((position < centres[0], (0, 1)), (position > centres[-1], (-2, -1))):
            slope = (profile[j] - profile[i]) / (centres[j] - centres[i])
            expected[outside] = profile[i] + slope * (position[outside] - centres[i])
    return attention - expected + 1.0


def utterance_summary(curves: Curves, classes: np.ndarray, n_bins: int) -> pl.DataFrame:
    """Per utterance: vowel/consonant frames, mean a, mass and time shares (raw and adjusted)."""
    frames = class_sums(curves, np.ones(classes.size), classes)
    mass = class_sums(curves, curves.weights, classes)
    raw = class_sums(curves, curves.normalised(), classes)
    adjusted = class_sums(curves, position_adjusted(curves, curves.normalised(), n_bins), classes)
    vowel, consonant = CLASS_CODES[VOWEL], CLASS_CODES[CONSONANT]
    speech_frames = frames[:, vowel] + frames[:, consonant]
    speech_mass = mass[:, vowel] + mass[:, consonant]
    with np.errstate(invalid="ignore", divide="ignore"):
        columns = {
            "utt_id": curves.utt_ids,
            "n_frames": curves.lengths,
            "vowel_frames": frames[:, vowel].astype(np.int64),
            "consonant_frames": frames[:, consonant].astype(np.int64),
            "vowel_mean": raw[:, vowel] / frames[:, vowel],
            "consonant_mean": raw[:, consonant] / frames[:, consonant],
            "vowel_mean_adjusted": adjusted[:, vowel] / frames[:, vowel],
            "consonant_mean_adjusted": adjusted[:, consonant] / frames[:, consonant],
            "vowel_mass_share": mass[:, vowel] / speech_mass,
            "vowel_time_share": frames[:, vowel] / speech_frames,
        }
    return pl.DataFrame(columns).with_columns(
        (pl.col("vowel_mean") - pl.col("consonant_mean")).alias("difference"),
        (pl.col("vowel_mean_adjusted") - pl.col("consonant_mean_adjusted")).alias(
            "difference_adjusted"
        ),
        ((pl.col("vowel_frames") > 0) & (pl.col("consonant_frames") > 0)).alias("paired"),
    )


# ---- test 2: circular-shift null -----------------------------------------------------------------
def rotation_differences(curves: Curves, attention: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(N,) D_u(s) = mean a over vowel frames − over consonant frames after rotating a by s.

    D_u(s) = Σ_t w_t a_{(t−s) mod T} with w = 1/|V| on vowel frames, −1/|C| on consonant frames:
    a circular cross-correlation, computed for all T shifts of an utterance with one FFT
    (``irfft(rfft(w) · conj(rfft(a)))``). Utterances without vowel or consonant frames get NaN.
    """
    differences = np.full(attention.size, np.nan)
    for u, (begin, end) in enumerate(zip(curves.offsets[:-1], curves.offsets[1:])):
        frame_class = classes[begin:end]
        is_vowel = frame_class == CLASS_CODES[VOWEL]
        is_consonant = frame_class == CLASS_CODES[CONSONANT]
        n_vowel, n_consonant = is_vowel.sum(), is_consonant.sum()
        if n_vowel == 0 or n_consonant == 0:
            continue
        weights = is_vowel / n_vowel - is_consonant / n_consonant
        spectrum = np.fft.rfft(weights) * np.conj(np.fft.rfft(attention[begin:end]))
        differences[begin:end] = np.fft.irfft(spectrum, n=end - begin)
    return differences


def circular_shift_test(curves: Curves, differences: np.ndarray, utt_pos: np.ndarray,
                        n_shifts: int, n_resamples: int, seed: int, alternative: str = GREATER,
                        name: str = "circular_shift") -> stats.TestResult:
    """Circular-shift test of the mean vowel−consonant difference over utterances ``utt_pos``.

    Statistic: D = mean over utterances of D_u(0). Null: each of ``n_shifts`` draws rotates every
    utterance by its own uniform random offset in [0, T_u) and averages D_u(offset). One-sided
    (``greater``, the paper's claim) p = (1 + #{null ≥ D}) / (n_shifts + 1) ≥ 1/(n_shifts + 1);
    ``less`` and ``two-sided`` via :func:`emocue.stats.monte_carlo_pvalue`. Effect size: D itself
    (normalised-attention units; the rotation null has mean exactly 0) with a bootstrap CI over
    utterances. Utterances without vowel or consonant frames are left out of ``n``.
    """
    utt_pos = np.asarray(utt_pos)
    utt_pos = utt_pos[np.isfinite(differences[curves.offsets[:-1][utt_pos]])]
    n = int(utt_pos.size)
    if n == 0:
        return stats.TestResult.undefined(name, "mean_vowel_minus_consonant", 0)
    starts, lengths = curves.offsets[:-1][utt_pos], curves.lengths[utt_pos]
    observed_per_utt = differences[starts]
    observed = float(observed_per_utt.mean())
    rng = np.random.default_rng(seed)
    null = np.empty(n_shifts)
    for chunk in np.array_split(np.arange(n_shifts), max(1, n * n_shifts // 2_000_000)):
        shifts = (rng.random((n, chunk.size)) * lengths[:, None]).astype(np.int64)
        null[chunk] = differences[starts[:, None] + shifts].mean(axis=0)
    pvalue = stats.monte_carlo_pvalue(observed, null, alternative)
    ci_low, ci_high = stats.bootstrap_ci(
        lambda indices: observed_per_utt[indices].mean(axis=1), n, n_resamples, seed + 1
    )
    return stats.TestResult(name, observed, pvalue, observed, "mean_vowel_minus_consonant",
                            ci_low, ci_high, n)


# ---- test 3: attention mass share vs time share --------------------------------------------------
def mass_share_test(mass_share: np.ndarray, time_share: np.ndarray, n_resamples: int,
                    seed: int) -> stats.TestResult:
    """Vowel share of attention mass vs vowel share of speech frames, paired over utterances.

    p: Wilcoxon signed-rank of (mass share − time share); effect size: the mean excess
    (percentage points / 100) with a bootstrap CI over utterances, so that long vowels alone
    (a large time share) cannot fake an effect.
    """
    excess = np.asarray(mass_share, float) - np.asarray(time_share, float)
    excess = excess[np.isfinite(excess)]
    rank_test = stats.signed_rank_test(excess, n_resamples=1, seed=seed)
    if excess.size == 0:
        return rank_test
    ci_low, ci_high = stats.bootstrap_ci(lambda idx: excess[idx].mean(axis=1), excess.size,
                                         n_resamples, seed)
    return stats.TestResult("mass_vs_time_share", rank_test.statistic, rank_test.pvalue,
                            float(excess.mean()), "mean_mass_share_minus_time_share",
                            ci_low, ci_high, int(excess.size))


# ---- the five test families ----------------------------------------------------------------------
def _row(test: str, variant: str, group_type: str, group: str, alternative: str,
         result: stats.TestResult) -> dict:
    return {"test": test, "variant": variant, "group_type": group_type, "group": group,
            "alternative": alternative, **result.as_row()}


def _groups(utterances: pl.DataFrame) -> Iterable[tuple[str, str, pl.DataFrame]]:
    """(group_type, group, rows): everything, then per emotion, speaker and correctness."""
    yield "all", "all", utterances
    for column in ("emotion", "speaker", "correct"):
        for key, rows in utterances.group_by(column, maintain_order=True):
            yield column, str(key[0]).lower(), rows


def _emotion_groups(utterances: pl.DataFrame) -> list[tuple[str, str, pl.DataFrame]]:
    """(group_type, group, rows): everything, then per emotion (labels as written)."""
    return [("all", "all", utterances)] + [
        ("emotion", str(key[0]), rows)
        for key, rows in utterances.group_by("emotion", maintain_order=True)
    ]


def vowel_consonant_tests(utterances: pl.DataFrame, settings: AttentionSettings) -> list[dict]:
    """Test 1: paired Wilcoxon (raw and position-adjusted) per group, plus between-group tests."""
    paired = utterances.filter(pl.col("paired"))
    rows = []
    for variant, suffix in (("raw", ""), ("position_adjusted", "_adjusted")):
        for group_type, group, subset in _groups(paired):
            result = stats.paired_wilcoxon(
                subset[f"vowel_mean{suffix}"].to_numpy(), subset[f"consonant_mean{suffix}"].to_numpy(),
                settings.n_bootstrap, settings.seed_for("paired", variant, group_type, group),
            )
            rows.append(_row("vowel_vs_consonant", variant, group_type, group, "two-sided", result))
        difference = paired[f"difference{suffix}"].to_numpy()
        is_correct = paired["correct"].to_numpy()
        rows.append(_row("vowel_effect_correct_vs_wrong", variant, "correct", "correct-wrong",
                         "two-sided", stats.mann_whitney(
                             difference[is_correct], difference[~is_correct], settings.n_bootstrap,
                             settings.seed_for("correct_vs_wrong", variant))))
        rows.append(_row("vowel_effect_across_emotions", variant, "emotion", "all", "two-sided",
                         stats.kruskal_wallis(difference, paired["emotion"].to_numpy(),
                                              settings.n_bootstrap,
                                              settings.seed_for("across_emotions", variant))))
    return rows


def circular_shift_tests(curves: Curves, classes: np.ndarray, utterances: pl.DataFrame,
                         settings: AttentionSettings) -> list[dict]:
    """Test 2 for all utterances and per emotion, on raw and position-adjusted attention.

    Two rows each: ``greater`` (the paper's claim, vowels above consonants) and ``two-sided``
    (2 × the smaller one-sided p), so that a reversed effect is visible too.
    """
    rows = []
    attention = curves.normalised()
    variants = {"raw": attention,
                "position_adjusted": position_adjusted(curves, attention, settings.position_bins)}
    groups = _emotion_groups(utterances)
    for variant, values in variants.items():
        differences = rotation_differences(curves, values, classes)
        for group_type, group, subset in groups:
            # Same seed for both alternatives: one null distribution, two p-values.
            for alternative in (GREATER, "two-sided"):
                result = circular_shift_test(
                    curves, differences, subset["utt_pos"].to_numpy(), settings.n_shifts,
                    settings.n_bootstrap, settings.seed_for("shift", variant, group_type, group),
                    alternative,
                )
                rows.append(_row("circular_shift", variant, group_type, group, alternative, result))
    return rows


def mass_share_tests(utterances: pl.DataFrame, settings: AttentionSettings) -> list[dict]:
    """Test 3 for all utterances and per emotion."""
    return [
        _row("mass_vs_time_share", "raw", group_type, group, "two-sided", mass_share_test(
            subset["vowel_mass_share"].to_numpy(), subset["vowel_time_share"].to_numpy(),
            settings.n_bootstrap, settings.seed_for("mass", group_type, group)))
        for group_type, group, subset in _emotion_groups(utterances.filter(pl.col("paired")))
    ]


def phone_rotation_null(curves: Curves, attention: np.ndarray, codes: np.ndarray, n_codes: int,
                        n_shifts: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed and rotated mean a per phone code (1..n_codes−1), averaged over utterances.

    For every utterance and phone p in it, m_p(s) = mean a over p's frames after rotating a by s
    (one batched FFT per utterance, as in :func:`rotation_differences`). Each utterance draws
    ``n_shifts`` uniform rotations shared by its phones. Returns ``observed`` (n_codes,),
    ``null`` (n_codes, n_shifts) and ``n_utterances`` (n_codes,); code 0 (no phone) is unused.
    """
    rng = np.random.default_rng(seed)
    observed = np.zeros(n_codes)
    null = np.zeros((n_codes, n_shifts))
    n_utterances = np.zeros(n_codes, dtype=np.int64)
    for begin, end in zip(curves.offsets[:-1], curves.offsets[1:]):
        frame_code = codes[begin:end]
        present = np.unique(frame_code[frame_code > 0])
        if present.size == 0:
            continue
        weights = (frame_code[None, :] == present[:, None]).astype(float)  # (K, T)
        weights /= weights.sum(axis=1, keepdims=True)
        spectrum = np.fft.rfft(weights, axis=1) * np.conj(np.fft.rfft(attention[begin:end]))
        rotated = np.fft.irfft(spectrum, n=end - begin, axis=1)  # (K, T): m_p(s)
        shifts = rng.integers(0, end - begin, n_shifts)
        observed[present] += rotated[:, 0]
        null[present] += rotated[:, shifts]
        n_utterances[present] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(n_utterances > 0, 1.0 / n_utterances, np.nan)
    return observed * scale, null * scale[:, None], n_utterances


def phone_ranking(curves: Curves, phones: pl.DataFrame, settings: AttentionSettings) -> pl.DataFrame:
    """Test 4: each phone's mean a vs 1.0 (uniform attention), BH-FDR across phones.

    Unit = utterance: a phone's value there is the frame-weighted mean a over its tokens (tokens
    of one utterance share its attention curve, so they are not independent). Two p-values:
    ``wilcoxon_pvalue`` — the one-sample Wilcoxon signed-rank test vs 1.0 with its rank-biserial
    r; and ``pvalue`` — a two-sided circular-shift test of the mean over utterances (rotations keep
    the mean of a at exactly 1). The calibration simulations show that the Wilcoxon test is
    anti-conservative here (per-utterance phone means of a softmax curve are right-skewed, so
    their pseudo-median sits below their mean of 1), so q-values and ``significant`` use the
    rotation p-value. Effect size: mean a − 1 with a bootstrap CI over utterances.
    """
    speech = phones.filter(pl.col("n_frames") > 0, pl.col("phone_class").is_in([VOWEL, CONSONANT]))
    labels = speech.select("phone_base", "phone_class").unique().sort("phone_base")
    code_of = {phone: code for code, phone in enumerate(labels["phone_base"], start=1)}
    codes = frame_codes(curves, speech, speech["phone_base"].replace_strict(code_of).to_numpy())
    observed, null, _ = phone_rotation_null(curves, curves.normalised(), codes, len(code_of) + 1,
                                            settings.n_shifts, settings.seed_for("phone_rotation"))
    # Ordered groups: the bootstrap draws index into ``values``, so its order must not vary by run.
    per_utt = speech.group_by("phone_base", "utt_id", maintain_order=True).agg(
        ((pl.col("mean_attention") * pl.col("n_frames")).sum() / pl.col("n_frames").sum())
        .alias("value"),
        pl.len().alias("n_tokens"),
        pl.col("n_frames").sum().alias("n_frames"),
    )
    rows = []
    for phone, phone_class in labels.iter_rows():
        group = per_utt.filter(pl.col("phone_base") == phone)
        values = group["value"].to_numpy()
        code, seed = code_of[phone], settings.seed_for("phone", phone)
        enough = values.size >= settings.min_units
        wilcoxon = stats.one_sample_wilcoxon(values, 1.0, settings.n_bootstrap, seed)
        ci_low, ci_high = stats.bootstrap_ci(lambda idx: values[idx].mean(axis=1) - 1.0,
                                             values.size, settings.n_bootstrap, seed)
        rows.append({
            "phone": phone, "phone_class": phone_class, "n_tokens": int(group["n_tokens"].sum()),
            "n_utterances": int(values.size), "n_frames": int(group["n_frames"].sum()),
            "mean_attention": float(observed[code]), "median_attention": float(np.median(values)),
            "name": "circular_shift_phone", "statistic": float(observed[code]),
            "pvalue": stats.monte_carlo_pvalue(observed[code], null[code], "two-sided")
            if enough else float("nan"),
            "effect_size": float(observed[code] - 1.0), "effect_size_name": "mean_attention_minus_1",
            "ci_low": ci_low, "ci_high": ci_high,
            "wilcoxon_statistic": wilcoxon.statistic,
            "wilcoxon_pvalue": wilcoxon.pvalue if enough else float("nan"),
            "rank_biserial": wilcoxon.effect_size, "rank_biserial_ci_low": wilcoxon.ci_low,
            "rank_biserial_ci_high": wilcoxon.ci_high,
        })
    ranking = pl.DataFrame(rows).sort("mean_attention", descending=True)
    return ranking.with_columns(
        pl.Series("q_value", stats.benjamini_hochberg(ranking["pvalue"].to_numpy())),
        pl.Series("wilcoxon_q_value", stats.benjamini_hochberg(ranking["wilcoxon_pvalue"].to_numpy())),
        pl.int_range(1, ranking.height + 1).alias("rank"),
    ).with_columns((pl.col("q_value") < settings.alpha).fill_null(False).alias("significant"))


def word_importance(words: pl.DataFrame) -> pl.DataFrame:
    """Test 5 (descriptive part): per word and emotion, token count and mean a / mass / duration."""
    return (
        words.filter(pl.col("n_frames") > 0)
        .group_by("word", "emotion")
        .agg(
            pl.len().alias("n_tokens"),
            pl.col("utt_id").n_unique().alias("n_utterances"),
            pl.col("mean_attention").mean().alias("mean_attention"),
            pl.col("attention_mass").mean().alias("mean_mass"),
            pl.col("duration_s").mean().alias("mean_duration_s"),
        )
        .sort("word", "emotion")
    )


def word_emotion_tests(words: pl.DataFrame, settings: AttentionSettings) -> pl.DataFrame:
    """Test 5: Kruskal–Wallis of a word's token mean a across the emotions it occurs in.

    Only emotions with ≥ 2 tokens of the word count, and only words left in ≥ 2 emotions with
    ≥ ``min_units`` tokens in all are tested; BH-FDR across the tested words.
    """
    tokens = words.filter(pl.col("n_frames") > 0)
    counts = tokens.group_by("word", "emotion").agg(pl.len().alias("n"))
    eligible = counts.filter(pl.col("n") >= 2)
    testable = eligible.group_by("word").agg(
        pl.len().alias("n_emotions"), pl.col("n").sum().alias("n_tokens")
    ).filter((pl.col("n_emotions") >= 2) & (pl.col("n_tokens") >= settings.min_units))
    tokens = tokens.join(eligible.select("word", "emotion"), on=["word", "emotion"], how="semi")
    rows = []
    for row in testable.sort("word").iter_rows(named=True):
        group = tokens.filter(pl.col("word") == row["word"])
        result = stats.kruskal_wallis(group["mean_attention"].to_numpy(), group["emotion"].to_numpy(),
                                      settings.n_bootstrap, settings.seed_for("word", row["word"]))
        rows.append(_row("word_across_emotions", "raw", "word", row["word"], "two-sided", result))
    return pl.DataFrame(rows, schema=TEST_SCHEMA) if rows else pl.DataFrame(schema=TEST_SCHEMA)


TEST_SCHEMA = {
    "test": pl.String, "variant": pl.String, "group_type": pl.String, "group": pl.String,
    "alternative": pl.String, "name": pl.String, "statistic": pl.Float64, "pvalue": pl.Float64,
    "effect_size": pl.Float64, "effect_size_name": pl.String, "ci_low": pl.Float64,
    "ci_high": pl.Float64, "n": pl.Int64,
}


def with_fdr(tests: pl.DataFrame, alpha: float) -> pl.DataFrame:
    """BH q-values within each family (test × variant × group_type × alternative) + a flag."""
    tests = tests.with_row_index("_row")
    parts = []
    for _, family in tests.group_by("test", "variant", "group_type", "alternative"):
        parts.append(family.with_columns(
            pl.Series("q_value", stats.benjamini_hochberg(family["pvalue"].to_numpy()))
        ))
    return (
        pl.concat(parts).sort("_row").drop("_row")
        .with_columns((pl.col("q_value") < alpha).fill_null(False).alias("significant"))
    )


# ---- the stage: inputs → tables ------------------------------------------------------------------
@dataclass(frozen=True)
class StageTables:
    phones: pl.DataFrame
    words: pl.DataFrame
    utterances: pl.DataFrame
    tests: pl.DataFrame
    phone_ranking: pl.DataFrame
    word_importance: pl.DataFrame
    left_out: pl.DataFrame

    def write(self, paths: dict[str, str | Path]) -> None:
        for name, path in paths.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            getattr(self, name).write_parquet(path)


def utterance_table(predictions: pl.DataFrame, manifest: pl.DataFrame) -> pl.DataFrame:
    """Per test utterance: fold, session, speaker, emotion (true label), pred, correct, confidence."""
    logp_columns = [column for column in predictions.columns if column.startswith("logp_")]
    confidence = pl.coalesce(
        pl.when(pl.col("pred") == column.removeprefix("logp_")).then(pl.col(column))
        for column in logp_columns
    ).exp()
    return (
        predictions.select(
            "utt_id", "fold", pl.col("label").alias("emotion"), "pred",
            (pl.col("label") == pl.col("pred")).alias("correct"), confidence.alias("confidence"),
        )
        .join(manifest.select("utt_id", "session", "speaker"), on="utt_id", how="left")
        .select("utt_id", "fold", "session", "speaker", "emotion", "pred", "correct", "confidence")
    )


def analyse(attention: pl.DataFrame, predictions: pl.DataFrame, manifest: pl.DataFrame,
            intervals: pl.DataFrame, settings: AttentionSettings) -> StageTables:
    """Map attention onto phones/words of every test utterance and run the five test families.

    ``attention`` and ``predictions`` carry a ``fold`` column (pooled over folds); ``intervals``
    is the alignment of the test sessions. Utterances without attention or alignment are listed
    in ``left_out`` (and those without vowel or consonant frames, which only the paired tests
    leave out).
    """
    utterances = utterance_table(predictions, manifest)
    attended = attention["utt_id"].unique()
    aligned = intervals.filter(pl.col("tier") == "phone")["utt_id"].unique()
    left_out = pl.concat([
        utterances.filter(~pl.col("utt_id").is_in(attended.implode()))
        .select("utt_id", "fold", pl.lit("no attention weights").alias("reason")),
        utterances.filter(pl.col("utt_id").is_in(attended.implode()),
                          ~pl.col("utt_id").is_in(aligned.implode()))
        .select("utt_id", "fold", pl.lit("no phone alignment").alias("reason")),
        attention.filter(~pl.col("utt_id").is_in(utterances["utt_id"].implode()))
        .select("utt_id", "fold").unique()
        .with_columns(pl.lit("attention but no prediction row").alias("reason")),
    ])
    kept = utterances.filter(pl.col("utt_id").is_in(attended.implode()),
                             pl.col("utt_id").is_in(aligned.implode()))
    if kept.height == 0:
        raise ValueError(
            f"attention: none of the {utterances.height} test utterances has both attention weights "
            "and a phone alignment; check that the align stage aligned the test session(s) and that "
            "the BLSTMATT runs wrote attention.parquet"
        )
    curves = curves_from_table(attention.filter(pl.col("utt_id").is_in(kept["utt_id"].implode())))
    log.info("attention: %d test utterances, %d analysed, %d left out",
             utterances.height, curves.utt_ids.size, left_out.height)
    phones = map_tokens(curves, intervals, kept, "phone")
    words = map_tokens(curves, intervals, kept, "word")
    classes = frame_classes(curves, phones)
    summary = (
        utterance_summary(curves, classes, settings.position_bins)
        .with_columns(pl.int_range(0, curves.utt_ids.size).alias("utt_pos"))
        .join(kept, on="utt_id", how="left")
    )
    unpaired = summary.filter(~pl.col("paired")).select(
        "utt_id", "fold", pl.lit("no vowel or no consonant frames (paired tests only)").alias("reason")
    )
    tests = pl.DataFrame(
        vowel_consonant_tests(summary, settings)
        + circular_shift_tests(curves, classes, summary.filter(pl.col("paired")), settings)
        + mass_share_tests(summary, settings),
        schema=TEST_SCHEMA,
    )
    ranking = phone_ranking(curves, phones, settings)
    phone_rows = pl.concat([
        ranking.select(
            pl.lit("phone_vs_uniform").alias("test"), pl.lit(variant).alias("variant"),
            pl.lit("phone").alias("group_type"), pl.col("phone").alias("group"),
            pl.lit("two-sided").alias("alternative"), *columns,
            pl.col("n_utterances").cast(pl.Int64).alias("n"),
        )
        for variant, columns in (
            ("circular_shift", ["name", "statistic", "pvalue", "effect_size", "effect_size_name",
                                "ci_low", "ci_high"]),
            ("wilcoxon", [pl.lit("one_sample_wilcoxon").alias("name"),
                          pl.col("wilcoxon_statistic").alias("statistic"),
                          pl.col("wilcoxon_pvalue").alias("pvalue"),
                          pl.col("rank_biserial").alias("effect_size"),
                          pl.lit("rank_biserial").alias("effect_size_name"),
                          pl.col("rank_biserial_ci_low").alias("ci_low"),
                          pl.col("rank_biserial_ci_high").alias("ci_high")]),
        )
    ])
    tests = pl.concat([tests, phone_rows, word_emotion_tests(words, settings)])
    return StageTables(
        phones=phones.drop("utt_pos", "clipped_start_frame"),
        words=words.drop("utt_pos", "clipped_start_frame"),
        utterances=summary.drop("utt_pos"),
        tests=with_fdr(tests, settings.alpha),
        phone_ranking=ranking,
        word_importance=word_importance(words),
        left_out=pl.concat([left_out, unpaired]).with_columns(pl.lit("attention").alias("stage")),
    )


def read_with_fold(paths: Iterable[str | Path], folds: Iterable[str]) -> pl.DataFrame:
    """Concatenate per-fold tables, adding the fold name as a column."""
    return pl.concat([pl.read_parquet(path).with_columns(pl.lit(fold).alias("fold"))
                      for path, fold in zip(paths, folds)], how="diagonal_relaxed")


def run_stage(attention_paths: list[str], prediction_paths: list[str], folds: list[str],
              manifest_paths: list[str], interval_paths: list[str], settings: AttentionSettings,
              outputs: dict[str, str]) -> StageTables:
    """The ``attention_stats`` job: read every fold of one seed, analyse, write the tables."""
    tables = analyse(
        attention=read_with_fold(attention_paths, folds),
        predictions=read_with_fold(prediction_paths, folds),
        manifest=pl.concat([pl.read_parquet(p) for p in manifest_paths], how="diagonal_relaxed"),
        intervals=pl.concat([pl.read_parquet(p) for p in interval_paths], how="diagonal_relaxed"),
        settings=settings,
    )
    tables.write(outputs)
    return tables
