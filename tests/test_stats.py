"""Unit tests of emocue.stats: rank tests, effect sizes, bootstrap CIs, BH-FDR, Monte Carlo p."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from emocue import stats


def test_benjamini_hochberg_matches_hand_computation():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5, np.nan])
    # Sorted finite p: 0.005, 0.01, 0.03, 0.04, 0.5 (m = 5) → p·m/rank = 0.025, 0.025, 0.05, 0.05,
    # 0.5; cumulative minimum from the top leaves them unchanged.
    expected = np.array([0.025, 0.05, 0.05, 0.025, 0.5, np.nan])
    np.testing.assert_allclose(stats.benjamini_hochberg(p), expected, equal_nan=True)


def test_benjamini_hochberg_enforces_monotonicity():
    # p·m/rank = 0.04, 0.03 → the first is lowered to the later minimum 0.03.
    np.testing.assert_allclose(stats.benjamini_hochberg(np.array([0.02, 0.03])), [0.03, 0.03])


def test_signed_rank_biserial_by_hand():
    # |d| ranks 1,2,3,4 (zero dropped); positives have ranks 1,3,4 → r = (8 − 2) / 10.
    d = np.array([1.0, -2.0, 3.0, 4.0, 0.0])
    assert stats.signed_rank_biserial(d)[0] == pytest.approx(0.6)
    # Resample rows: (1, 1) → all positive; (−2, −2) → all negative; (1, −2, 0, 0) → (1 − 2)/3.
    rows = stats.signed_rank_biserial(d, np.array([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 4, 4]]))
    np.testing.assert_allclose(rows, [1.0, -1.0, -1 / 3])


def test_resampled_ranks_match_scipy_rankdata():
    rng = np.random.default_rng(4)
    values = np.round(rng.normal(size=30), 1)
    indices = rng.integers(0, 30, (20, 30))
    ranks, tie_sums = stats.resampled_ranks(values, indices)
    np.testing.assert_allclose(ranks, scipy_stats.rankdata(values[indices], axis=1))
    for row, tie_sum in zip(values[indices], tie_sums):
        counts = np.unique(row, return_counts=True)[1]
        assert tie_sum == pytest.approx(np.sum(counts**3 - counts))


def test_signed_rank_test_matches_scipy_and_ci_covers_effect():
    rng = np.random.default_rng(0)
    x = rng.normal(0.5, 1.0, 80)
    result = stats.one_sample_wilcoxon(x + 1.0, 1.0, n_resamples=500, seed=1)
    reference = scipy_stats.wilcoxon(x)
    assert result.pvalue == pytest.approx(reference.pvalue)
    assert result.n == 80 and result.effect_size_name == "rank_biserial"
    assert result.ci_low < result.effect_size < result.ci_high
    assert result.effect_size > 0


def test_paired_wilcoxon_is_symmetric():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=40), rng.normal(size=40)
    forward = stats.paired_wilcoxon(x, y, 200, 3)
    backward = stats.paired_wilcoxon(y, x, 200, 3)
    assert forward.pvalue == pytest.approx(backward.pvalue)
    assert forward.effect_size == pytest.approx(-backward.effect_size)


def test_kruskal_wallis_matches_scipy_with_ties():
    rng = np.random.default_rng(2)
    values = np.round(rng.normal(size=45), 1)  # rounding creates ties
    groups = np.repeat(["a", "b", "c"], 15)
    result = stats.kruskal_wallis(values, groups, 300, 0)
    reference = scipy_stats.kruskal(values[:15], values[15:30], values[30:])
    assert result.statistic == pytest.approx(reference.statistic)
    assert result.pvalue == pytest.approx(reference.pvalue)
    codes = np.unique(groups, return_inverse=True)[1]
    vectorised = stats.kruskal_epsilon_squared(values, np.arange(45), codes, 3)[0]
    assert vectorised == pytest.approx(reference.statistic / 44)
    assert result.ci_low <= result.effect_size <= result.ci_high


def test_mann_whitney_rank_biserial():
    result = stats.mann_whitney(np.array([3.0, 4.0, 5.0]), np.array([1.0, 2.0]), 100, 0)
    assert result.effect_size == pytest.approx(1.0)
    assert result.statistic == pytest.approx(6.0)


def test_stratified_bootstrap_keeps_groups():
    groups = np.array([0, 0, 1, 1, 1])
    indices = stats.stratified_bootstrap_indices(groups, 50, 0)
    assert np.all(groups[indices] == groups[None, :])


def test_monte_carlo_pvalue_bounds_and_sides():
    null = np.arange(99, dtype=float)
    assert stats.monte_carlo_pvalue(1000.0, null, "greater") == pytest.approx(1 / 100)
    assert stats.monte_carlo_pvalue(-1.0, null, "greater") == pytest.approx(1.0)
    assert stats.monte_carlo_pvalue(-1.0, null, "less") == pytest.approx(1 / 100)
    assert stats.monte_carlo_pvalue(1000.0, null, "two-sided") == pytest.approx(2 / 100)
    with pytest.raises(ValueError, match="alternative"):
        stats.monte_carlo_pvalue(0.0, null, "bigger")


def test_degenerate_inputs_give_nan_not_errors():
    assert np.isnan(stats.signed_rank_test(np.zeros(5), 10, 0).pvalue)
    assert np.isnan(stats.kruskal_wallis(np.ones(6), np.repeat(["a", "b"], 3), 10, 0).pvalue)
    assert np.isnan(stats.mann_whitney(np.array([]), np.array([1.0]), 10, 0).pvalue)
