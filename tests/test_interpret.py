"""Interpretation methods (emocue.causal, emocue.attributions, emocue.confounds, emocue.validation)
on cases whose answer is known exactly: a hand-built model, simulated deletion studies and
simulated frame regressions."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import torch
import yaml

from emocue import attention, causal, confounds, validation
from emocue.attention import AttentionSettings
from emocue.attributions import as_curves, attention_agreement, integrated_gradients

VOWEL, CONSONANT = attention.CLASS_CODES["vowel"], attention.CLASS_CODES["consonant"]


# ---- a hand-built model: logits (Σ_t x[t, 0], 1) -------------------------------------------------
def hand_model(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T, F) -> (B, 2) log-posteriors; only channel 0 matters, every frame equally."""
    logits = torch.stack([x[..., 0].sum(dim=1), torch.ones(x.shape[0], dtype=x.dtype)], dim=1)
    return logits.log_softmax(dim=1)


def log_p0(s: float) -> float:
    return s - np.logaddexp(s, 1.0)


@pytest.fixture
def known_utterance() -> causal.TestUtterances:
    """10 frames: 4 vowels carrying the evidence (channel 0 = 1), 4 consonants, 2 silence."""
    classes = np.array([VOWEL] * 4 + [CONSONANT] * 4 + [0, 0], dtype=np.int8)
    x = np.zeros((10, 2), np.float32)
    x[:4, 0] = 1.0
    x[:, 1] = np.random.default_rng(0).normal(size=10)  # ignored by the model
    return causal.TestUtterances(["u1"], np.array([0]), ["angry"], [x], [classes])


def test_class_deletion_gives_the_exact_change_of_the_true_class_posterior(known_utterance):
    table = causal.class_deletion(hand_model, known_utterance, causal.DeletionSettings.defaults(draws=3))
    rows = {row["filler"]: row for row in table.iter_rows(named=True)}
    assert rows["zeros"]["n_deleted"] == 4
    assert rows["zeros"]["logp"] == pytest.approx(log_p0(4.0))
    assert rows["zeros"]["delta_vowel"] == pytest.approx(log_p0(0.0) - log_p0(4.0))
    assert rows["zeros"]["delta_consonant"] == pytest.approx(0.0, abs=1e-7)  # they carry nothing
    assert rows["zeros"]["correct"] and rows["zeros"]["correct_vowel_deleted"] == 0.0
    # the utterance mean (0.4 on channel 0) put back in the 4 vowel frames: Σ = 1.6
    assert rows["utterance_mean"]["delta_vowel"] == pytest.approx(log_p0(1.6) - log_p0(4.0))
    # interpolation across the vowels from the first kept frame (0) holds 0: like zeros here
    assert rows["interpolate"]["delta_vowel"] == pytest.approx(log_p0(0.0) - log_p0(4.0))


def test_matched_deletion_draws_the_larger_class_down_to_the_smaller():
    classes = np.array([VOWEL] * 6 + [CONSONANT] * 2, dtype=np.int8)
    vowel_masks, consonant_masks, k = causal.deletion_masks(classes, 4, np.random.default_rng(1))
    assert k == 2 and len(vowel_masks) == 4 and len(consonant_masks) == 1
    assert all(m.sum() == 2 and np.all(classes[m] == VOWEL) for m in vowel_masks)
    assert np.array_equal(np.flatnonzero(consonant_masks[0]), [6, 7])


def test_integrated_gradients_is_complete_and_zero_where_the_model_looks_nowhere(known_utterance):
    ig = integrated_gradients(hand_model, known_utterance, n_steps=64)
    attribution = ig["attribution"].to_numpy()
    assert attribution.sum() == pytest.approx(log_p0(4.0) - log_p0(0.0), abs=1e-3)  # completeness
    assert np.allclose(attribution[4:], 0.0, atol=1e-9)  # consonants and silence: x = baseline there
    assert np.allclose(attribution[:4], attribution[0])  # the model treats the vowel frames alike
    weights = as_curves(ig)["weight"].to_numpy()
    assert np.allclose(weights, [0.25] * 4 + [0.0] * 6, atol=1e-6)


def test_deletion_curve_falls_fastest_under_the_faithful_ranking(known_utterance):
    ig = integrated_gradients(hand_model, known_utterance, n_steps=16)
    rankings = {"integrated_gradients": [np.abs(ig["attribution"].to_numpy())],
                "attention": [np.linspace(0, 1, 10)]}  # an unfaithful ranking: the silence first
    settings = causal.DeletionSettings.defaults(draws=20, fractions=(0.0, 0.2, 0.4))
    curve = causal.deletion_curve(hand_model, known_utterance, rankings, settings)
    accuracy = {(r, k): c for r, k, c in curve.select("ranking", "fraction", "correct").iter_rows()}
    delta = {(r, k): d for r, k, d in curve.select("ranking", "fraction", "delta_logp").iter_rows()}
    assert accuracy[("integrated_gradients", 0.0)] == 1.0
    assert accuracy[("integrated_gradients", 0.4)] == 0.0  # the 4 vowel frames are gone: Σ = 0 < 1
    assert delta[("integrated_gradients", 0.4)] == pytest.approx(log_p0(0.0) - log_p0(4.0))
    assert accuracy[("attention", 0.4)] == 1.0  # silence and consonants deleted: nothing changes
    assert delta[("attention", 0.4)] == pytest.approx(0.0, abs=1e-7)
    assert delta[("integrated_gradients", 0.4)] < delta[("random", 0.4)] < 0.0


def test_attention_agreement_is_one_for_identical_rankings():
    frames = pl.DataFrame({"utt_id": ["a"] * 5, "frame": np.arange(5, dtype=np.int32),
                           "weight": [0.1, 0.3, 0.2, 0.25, 0.15]})
    ig = frames.select("utt_id", "frame", (pl.col("weight") * -3).alias("attribution"))
    assert attention_agreement(frames, ig)["spearman"][0] == pytest.approx(1.0)


# ---- the deletion verdict: calibrated under the null, powered under a planted effect -----------
SETTINGS = AttentionSettings.defaults(n_bootstrap=50)


def simulated_damage(rng, n: int, vowel_shift: float, mean: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Per-utterance damage of deleting each class: a shared utterance effect plus noise."""
    shared = rng.normal(mean, 0.3, n)
    return shared + vowel_shift + rng.normal(0, 0.3, n), shared + rng.normal(0, 0.3, n)


def verdict_rates(vowel_shift: float, mean: float = 0.2, repeats: int = 300) -> dict[str, float]:
    rng = np.random.default_rng(5)
    verdicts = [validation.deletion_test(*simulated_damage(rng, 40, vowel_shift, mean), SETTINGS, str(i))[1]
                for i in range(repeats)]
    return {v: verdicts.count(v) / repeats for v in validation.VERDICTS}


def test_deletion_verdict_on_null_studies_says_none_at_about_the_nominal_rate():
    rates = verdict_rates(0.0)
    assert 0.01 <= 1 - rates["none"] <= 0.09, rates
    assert abs(rates["vowel"] - rates["consonant"]) < 0.05, rates


def test_deletion_verdict_finds_a_planted_vowel_effect():
    rates = verdict_rates(0.25)
    assert rates["vowel"] > 0.8 and rates["consonant"] == 0.0, rates


def test_deletion_that_raises_the_posterior_is_no_evidence():
    # deleting either class *helps* (damage < 0), consonants more: no class carries the emotion
    rates = verdict_rates(0.3, mean=-1.0, repeats=50)
    assert rates["none"] == 1.0, rates


def test_verdict_needs_significance_and_a_sign():
    assert validation.verdict(0.3, 0.01, 0.05) == "vowel"
    assert validation.verdict(-0.3, 0.01, 0.05) == "consonant"
    assert validation.verdict(0.3, 0.2, 0.05) == "none"
    assert validation.verdict(float("nan"), 0.01, 0.05) == "none"


# ---- the confound regression recovers planted coefficients -------------------------------------
def simulated_frames(rng, vowel_effect: float, energy_effect: float, n_utt: int = 40,
                     n_frames: int = 120) -> pl.DataFrame:
    """Frames where vowels are louder (energy confounds the vowel effect) and attention is smooth
    within an utterance (AR(1) noise), so frames of one utterance are correlated."""
    parts = []
    for u in range(n_utt):
        is_vowel = (np.arange(n_frames) // rng.integers(4, 9)) % 2 == 0
        log_energy = 1.5 * is_vowel + rng.normal(0, 1, n_frames)
        z = (log_energy - log_energy.mean()) / log_energy.std(ddof=1)
        noise = np.zeros(n_frames)
        for t in range(1, n_frames):
            noise[t] = 0.8 * noise[t - 1] + rng.normal(0, 0.1)
        parts.append(pl.DataFrame({
            "utt_id": f"u{u}", "value": 1 + vowel_effect * is_vowel + energy_effect * z + noise,
            "is_vowel": is_vowel, "log_energy": log_energy, "voicing": rng.uniform(0, 1, n_frames),
            "f0_hz": rng.uniform(100, 200, n_frames), "relative_position": (np.arange(n_frames) + 0.5) / n_frames,
        }))
    return pl.concat(parts)


def coefficient(table: pl.DataFrame, model: str, term: str) -> dict:
    return table.filter(pl.col("model") == model, pl.col("term") == term).row(0, named=True)


def test_confound_regression_recovers_planted_coefficients():
    frames = simulated_frames(np.random.default_rng(2), vowel_effect=0.1, energy_effect=0.3)
    table = confounds.coefficient_table(confounds.cluster_robust_ols(frames))
    vowel = coefficient(table, "with_controls", "vowel")
    energy = coefficient(table, "with_controls", "log_energy_z")
    assert vowel["ci_low"] < 0.1 < vowel["ci_high"] and vowel["pvalue"] < 0.05
    assert energy["ci_low"] < 0.3 < energy["ci_high"]
    assert coefficient(table, "without_controls", "vowel")["estimate"] > 0.3  # energy's share absorbed
    assert vowel["n_utterances"] == 40


def test_confound_regression_is_calibrated_when_only_energy_matters():
    rng = np.random.default_rng(4)
    rejected = [coefficient(confounds.coefficient_table(confounds.cluster_robust_ols(
        simulated_frames(rng, 0.0, 0.3, n_utt=25, n_frames=60))), "with_controls", "vowel")["pvalue"] < 0.05
        for _ in range(100)]
    assert 0.0 <= np.mean(rejected) <= 0.12


def test_frame_covariates_follow_the_feature_frame_grid():
    t = np.arange(16000) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 150 * t) * (t > 0.5)  # 0.5 s silence, then a 150 Hz tone
    values = confounds.frame_covariates(tone.astype(np.float32) + 1e-4 * np.random.default_rng(0).normal(size=t.size),
                                        98)
    assert values["log_energy"][10] < values["log_energy"][80] - 5
    assert values["voicing"][10] == 0 and values["voicing"][80] > 0.8
    assert values["f0_hz"][80] == pytest.approx(150, rel=0.02)
    assert values["relative_position"][0] == pytest.approx(0.5 / 98)


# ---- the validation configs and summary -----------------------------------------------------------
def test_validation_config_plants_the_cue_in_the_demo_base(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"corpus": {"type": "demo"}, "train": {"seeds": [1]}, "demo": {"seed": 3}}))
    config = validation.validation_config(base, "consonants", {"seeds": [1, 2], "base_config": str(base)},
                                          {"n_shifts": 10})
    assert config["demo"] == {"seed": 3, "cue": "consonants"}
    assert config["train"]["seeds"] == [1, 2] and config["validation"]["base_config"] is None
    base.write_text(yaml.safe_dump({"corpus": {"type": "iemocap"}}))
    with pytest.raises(ValueError, match="validation.base_config must be a demo config"):
        validation.validation_config(base, "vowels", {"seeds": [1]}, {})


def test_report_truth_table_marks_right_and_wrong_verdicts():
    from emocue.report.sections.validation import truth_table

    summary = pl.DataFrame({"cue": ["vowels", "vowels", "none", "none"],
                            "method": ["attention_paired", "deletion"] * 2,
                            "verdict": ["consonant", "vowel", "none", "vowel"]})
    table = truth_table(summary)
    assert table.columns == ["method", "planted: vowels", "planted: none"]
    assert table.row(0) == ("deletion", "vowel ✓", "vowel ✗")  # deletion first, then attention
    assert table.row(1) == ("attention_paired", "consonant ✗", "none ✓")


def test_report_section_reads_nothing_unless_asked():
    from emocue.report.sections import validation as section

    config = {"validation": {"report": False, "cues": ["vowels", "none"]}}
    assert section.files(config) == {}  # the default report (and `all`) never waits for validation
    config["validation"]["report"] = True
    declared = section.files(config)
    assert declared["validation_summary"] == ["validation/summary.parquet"]
    assert declared["validation_deletion_tests"] == [
        "validation/vowels/results/interpret/deletion_tests.parquet",
        "validation/none/results/interpret/deletion_tests.parquet"]


def test_validation_summary_stacks_the_cues(tmp_path):
    paths = {}
    for cue in ("vowels", "none"):
        rows = [{"method": m, "verdict": "none", "effect": 0.0, "ci_low": -1.0, "ci_high": 1.0, "pvalue": 0.5,
                 "n": 10, "accuracy": 0.5, "effect_name": "x", "model": "BLSTMATT"} for m in validation.METHODS]
        paths[cue] = str(tmp_path / f"{cue}.parquet")
        pl.DataFrame(rows, schema=validation.VERDICT_SCHEMA).write_parquet(paths[cue])
    summary = validation.validation_summary(paths)
    assert summary.columns[:9] == ["cue", "method", "verdict", "effect", "ci_low", "ci_high", "pvalue", "n",
                                   "accuracy"]
    assert summary.height == 2 * len(validation.METHODS) and summary["cue"].unique().sort().to_list() == [
        "none", "vowels"]
    assert not math.isnan(summary["pvalue"][0])
