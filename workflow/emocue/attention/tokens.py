"""Per-phone and per-word attention: test 4 (phones vs uniform) and test 5 (words × emotion)."""

from __future__ import annotations

import numpy as np
import polars as pl

from emocue import stats
from emocue.attention.mapping import Curves, frame_codes
from emocue.attention.settings import TEST_SCHEMA, AttentionSettings, result_row
from emocue.phones import CONSONANT, VOWEL

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
        rows.append(result_row("word_across_emotions", "raw", "word", row["word"], "two-sided",
                               result))
    return pl.DataFrame(rows, schema=TEST_SCHEMA) if rows else pl.DataFrame(schema=TEST_SCHEMA)

