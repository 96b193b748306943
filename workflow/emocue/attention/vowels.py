"""Vowel vs consonant attention: per-utterance class summaries and tests 1–3.

Test 1 paired Wilcoxon (raw and position-adjusted), test 2 the circular-shift null, test 3 vowel
attention mass share vs vowel time share (see the package docstring).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from emocue import stats
from emocue.attention.mapping import Curves
from emocue.attention.settings import CLASS_CODES, GREATER, N_CODES, AttentionSettings, result_row
from emocue.phones import CONSONANT, VOWEL

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


# ---- tests 1–3 per group -------------------------------------------------------------------------
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
            rows.append(result_row("vowel_vs_consonant", variant, group_type, group, "two-sided",
                                   result))
        difference = paired[f"difference{suffix}"].to_numpy()
        is_correct = paired["correct"].to_numpy()
        rows.append(result_row("vowel_effect_correct_vs_wrong", variant, "correct", "correct-wrong",
                               "two-sided", stats.mann_whitney(
                                   difference[is_correct], difference[~is_correct],
                                   settings.n_bootstrap,
                                   settings.seed_for("correct_vs_wrong", variant))))
        rows.append(result_row("vowel_effect_across_emotions", variant, "emotion", "all",
                               "two-sided", stats.kruskal_wallis(
                                   difference, paired["emotion"].to_numpy(), settings.n_bootstrap,
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
                rows.append(result_row("circular_shift", variant, group_type, group, alternative,
                                       result))
    return rows


def mass_share_tests(utterances: pl.DataFrame, settings: AttentionSettings) -> list[dict]:
    """Test 3 for all utterances and per emotion."""
    return [
        result_row("mass_vs_time_share", "raw", group_type, group, "two-sided", mass_share_test(
            subset["vowel_mass_share"].to_numpy(), subset["vowel_time_share"].to_numpy(),
            settings.n_bootstrap, settings.seed_for("mass", group_type, group)))
        for group_type, group, subset in _emotion_groups(utterances.filter(pl.col("paired")))
    ]

