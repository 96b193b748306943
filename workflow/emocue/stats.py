"""Statistical building blocks shared by the stages (scipy-style results).

Every test returns a :class:`TestResult`: ``statistic``, ``pvalue``, an effect size with its
confidence interval, and ``n`` — the fields a reviewer asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class TestResult:
    name: str
    statistic: float
    pvalue: float
    effect_size: float
    effect_size_name: str
    ci_low: float
    ci_high: float
    n: int
    __test__ = False  # not a pytest test class

    def as_row(self) -> dict:
        return asdict(self)

    @classmethod
    def undefined(cls, name: str, effect_size_name: str, n: int) -> TestResult:
        """The result of a test its data cannot support: every number NaN."""
        nan = float("nan")
        return cls(name, nan, nan, nan, effect_size_name, nan, nan, n)


def bootstrap_ci(
    statistic: Callable[[np.ndarray], np.ndarray],
    n: int,
    n_resamples: int,
    seed: int,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI over ``n`` resampled units.

    ``statistic`` takes an index matrix (n_resamples, n) and returns one value per row, so callers
    vectorise over resamples instead of looping.
    """
    return percentile_interval(bootstrap_distribution(statistic, n, n_resamples, seed), confidence)


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of the finite ``values`` (NaN, NaN when none is finite)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_distribution(
    statistic: Callable[[np.ndarray], np.ndarray], n: int, n_resamples: int, seed: int
) -> np.ndarray:
    """The statistic on ``n_resamples`` resamples (with replacement) of ``n`` units: (n_resamples,)."""
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n, size=(n_resamples, n))
    return np.asarray(statistic(indices), dtype=float)


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), NaNs passed through."""
    from scipy.stats import false_discovery_control

    pvalues = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(pvalues, np.nan)
    finite = np.isfinite(pvalues)
    if finite.any():
        adjusted[finite] = false_discovery_control(pvalues[finite], method="bh")
    return adjusted


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> TestResult:
    """McNemar's exact test of two classifiers' correct/incorrect decisions on the same items.

    Only discordant pairs count: ``b`` items only A gets right, ``c`` items only B gets right. Under
    H0 (equal error rates) ``b ~ Binomial(b + c, 1/2)``; the two-sided p-value is scipy's exact
    binomial test. Statistic: ``b``. Effect size: the share of discordant pairs that A wins,
    ``b / (b + c)`` (0.5 = no difference), with its Clopper–Pearson 95 % CI. No discordant pairs
    gives p = 1 and a NaN share.
    """
    from scipy.stats import binomtest

    correct_a = np.asarray(correct_a, dtype=bool)
    correct_b = np.asarray(correct_b, dtype=bool)
    if correct_a.shape != correct_b.shape:
        raise ValueError(f"mcnemar_exact: shapes differ {correct_a.shape} vs {correct_b.shape}")
    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(~correct_a & correct_b))
    discordant = only_a + only_b
    if discordant == 0:
        pvalue, share, ci_low, ci_high = 1.0, float("nan"), float("nan"), float("nan")
    else:
        result = binomtest(only_a, discordant, 0.5, alternative="two-sided")
        interval = result.proportion_ci(confidence_level=0.95, method="exact")
        pvalue, share = float(result.pvalue), only_a / discordant
        ci_low, ci_high = float(interval.low), float(interval.high)
    return TestResult(
        name="mcnemar_exact",
        statistic=float(only_a),
        pvalue=pvalue,
        effect_size=share,
        effect_size_name="share_of_discordant_won_by_a",
        ci_low=ci_low,
        ci_high=ci_high,
        n=int(correct_a.size),
    )


def paired_bootstrap_difference(
    difference: Callable[[np.ndarray], np.ndarray],
    n: int,
    n_resamples: int,
    seed: int,
    confidence: float = 0.95,
    name: str = "paired_bootstrap_difference",
) -> TestResult:
    """Paired bootstrap of a difference between two systems scored on the same ``n`` items.

    ``difference`` maps an index matrix (R, n) to one difference per row (system A − system B on
    that resample), so both systems always see the same resampled items — that pairing is what
    removes the shared item difficulty from the variance. Returns the observed difference (all
    items once) with its percentile CI; the two-sided p-value is twice the smaller share of
    resampled differences on either side of 0 (capped at 1).
    """
    observed = float(np.asarray(difference(np.arange(n)[None, :]), dtype=float)[0])
    values = bootstrap_distribution(difference, n, n_resamples, seed)
    ci_low, ci_high = percentile_interval(values, confidence)
    values = values[np.isfinite(values)]
    pvalue = (float(min(1.0, 2.0 * min(np.mean(values <= 0.0), np.mean(values >= 0.0))))
              if values.size else float("nan"))
    return TestResult(
        name=name,
        statistic=observed,
        pvalue=pvalue,
        effect_size=observed,
        effect_size_name="difference_a_minus_b",
        ci_low=ci_low,
        ci_high=ci_high,
        n=int(n),
    )


# ---- rank tests with rank-based effect sizes and vectorised bootstrap CIs ----------------------
# Conventions: two-sided p-values from scipy; effect sizes are rank-biserial correlations (−1..1) or
# epsilon-squared (0..1); CIs are percentile bootstraps over the test's units, computed for all
# resamples at once (ranks along axis 1 of an (R, n) matrix).


def resampled_ranks(values: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks of ``values[indices]`` within each row (R, m), and each row's tie term.

    No per-row sort: the values are sorted once, and a resample only changes how often each
    distinct value occurs, so a value's average rank in a row is (#smaller values in the row) +
    (its count + 1) / 2. The tie term Σ (t³ − t) over tied groups comes from the same counts.
    """
    indices = np.atleast_2d(indices)
    distinct, position = np.unique(np.asarray(values, dtype=float), return_inverse=True)
    n_rows, n_distinct = indices.shape[0], distinct.size
    drawn = position[indices]  # (R, m) position of each drawn value among the distinct values
    keys = (drawn + (np.arange(n_rows) * n_distinct)[:, None]).ravel()
    counts = np.bincount(keys, minlength=n_rows * n_distinct).reshape(n_rows, n_distinct)
    counts = counts.astype(float)
    average = np.cumsum(counts, axis=1) - counts + (counts + 1.0) / 2.0
    return np.take_along_axis(average, drawn, axis=1), (counts**3 - counts).sum(axis=1)


def signed_rank_biserial(differences: np.ndarray, indices: np.ndarray | None = None) -> np.ndarray:
    """Matched-pairs rank-biserial r = (R+ − R−) / (R+ + R−) of ``differences[indices]`` per row.

    Ranks of |d| among the non-zero differences of the row (zeros dropped, as scipy's default
    ``zero_method='wilcox'``); r = 1 when every difference is positive; NaN for an all-zero row.
    ``indices`` (R, m) are bootstrap resamples; default: the sample itself (one row).
    """
    differences = np.asarray(differences, dtype=float)
    if indices is None:
        indices = np.arange(differences.size)[None, :]
    ranks, _ = resampled_ranks(np.abs(differences), indices)
    drawn = differences[indices]
    # Zeros take the lowest ranks; shifting by their count gives the ranks among non-zeros.
    ranks = ranks - np.sum(drawn == 0.0, axis=1, keepdims=True)
    positive = np.sum(ranks * (drawn > 0), axis=1)
    negative = np.sum(ranks * (drawn < 0), axis=1)
    total = positive + negative
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (positive - negative) / total, np.nan)


def signed_rank_test(
    differences: np.ndarray,
    n_resamples: int,
    seed: int,
    name: str = "wilcoxon_signed_rank",
    confidence: float = 0.95,
) -> TestResult:
    """Wilcoxon signed-rank test of ``differences`` against 0 (two-sided).

    Effect size: matched-pairs rank-biserial correlation with a percentile bootstrap CI over the
    units. ``n`` counts the finite differences used (zeros included, as in the data).
    """
    from scipy.stats import wilcoxon

    differences = np.asarray(differences, dtype=float)
    differences = differences[np.isfinite(differences)]
    n = int(differences.size)
    if n == 0 or np.all(differences == 0.0):
        return TestResult.undefined(name, "rank_biserial", n)
    result = wilcoxon(differences, alternative="two-sided")
    effect = float(signed_rank_biserial(differences)[0])
    ci_low, ci_high = bootstrap_ci(
        lambda indices: signed_rank_biserial(differences, indices), n, n_resamples, seed, confidence
    )
    return TestResult(name, float(result.statistic), float(result.pvalue), effect,
                      "rank_biserial", ci_low, ci_high, n)


def paired_wilcoxon(x: np.ndarray, y: np.ndarray, n_resamples: int, seed: int,
                    name: str = "paired_wilcoxon") -> TestResult:
    """Paired Wilcoxon signed-rank test of x vs y (pairs with a non-finite member are dropped)."""
    return signed_rank_test(np.asarray(x, float) - np.asarray(y, float), n_resamples, seed, name)


def one_sample_wilcoxon(x: np.ndarray, mu: float, n_resamples: int, seed: int,
                        name: str = "one_sample_wilcoxon") -> TestResult:
    """One-sample Wilcoxon signed-rank test of x against the location ``mu``."""
    return signed_rank_test(np.asarray(x, float) - mu, n_resamples, seed, name)


def stratified_bootstrap_indices(groups: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(R, n) resample indices that keep every unit in its group (group sizes stay fixed)."""
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    indices = np.empty((n_resamples, groups.size), dtype=np.int64)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        indices[:, members] = members[rng.integers(0, members.size, (n_resamples, members.size))]
    return indices


def kruskal_epsilon_squared(values: np.ndarray, indices: np.ndarray, codes: np.ndarray,
                            n_groups: int) -> np.ndarray:
    """Tie-corrected Kruskal–Wallis H → epsilon² = H / (n − 1) for each row of ``values[indices]``.

    ``codes`` (n,) gives each column's group (0..n_groups−1); resamples must keep every column in
    its group (:func:`stratified_bootstrap_indices`).
    """
    indices = np.atleast_2d(indices)
    n = indices.shape[1]
    ranks, tie_sums = resampled_ranks(values, indices)
    one_hot = np.eye(n_groups)[codes]  # (n, G)
    rank_sums = ranks @ one_hot  # (R, G)
    h = 12.0 / (n * (n + 1)) * np.sum(rank_sums**2 / one_hot.sum(axis=0), axis=1) - 3.0 * (n + 1)
    correction = 1.0 - tie_sums / (n**3 - n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(correction > 0, h / correction, np.nan) / (n - 1)


def kruskal_wallis(values: np.ndarray, groups: np.ndarray, n_resamples: int, seed: int,
                   name: str = "kruskal_wallis", confidence: float = 0.95) -> TestResult:
    """Kruskal–Wallis H test across ``groups`` with epsilon² (H/(n−1)) and a stratified bootstrap CI.

    Needs at least two groups and not all values equal; otherwise the result is NaN.
    """
    from scipy.stats import kruskal

    values = np.asarray(values, dtype=float)
    groups = np.asarray(groups)
    keep = np.isfinite(values)
    values, groups = values[keep], groups[keep]
    labels, codes = np.unique(groups, return_inverse=True)
    n = int(values.size)
    if labels.size < 2 or np.unique(values).size < 2:
        return TestResult.undefined(name, "epsilon_squared", n)
    result = kruskal(*(values[codes == k] for k in range(labels.size)))
    effect = float(result.statistic) / (n - 1)
    indices = stratified_bootstrap_indices(codes, n_resamples, seed)
    ci_low, ci_high = percentile_interval(
        kruskal_epsilon_squared(values, indices, codes, labels.size), confidence
    )
    return TestResult(name, float(result.statistic), float(result.pvalue), effect,
                      "epsilon_squared", ci_low, ci_high, n)


def mann_whitney(x: np.ndarray, y: np.ndarray, n_resamples: int, seed: int,
                 name: str = "mann_whitney", confidence: float = 0.95) -> TestResult:
    """Two-sided Mann–Whitney U test of x vs y; rank-biserial r = 2·U_x/(n_x·n_y) − 1 (> 0: x larger).

    The CI resamples x and y separately (stratified bootstrap).
    """
    from scipy.stats import mannwhitneyu

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    n = int(x.size + y.size)
    if x.size == 0 or y.size == 0:
        return TestResult.undefined(name, "rank_biserial", n)
    result = mannwhitneyu(x, y, alternative="two-sided")
    values = np.concatenate([x, y])
    in_x = np.arange(n) < x.size

    def rank_biserial(indices: np.ndarray) -> np.ndarray:
        ranks, _ = resampled_ranks(values, indices)
        u_x = ranks[:, in_x].sum(axis=1) - x.size * (x.size + 1) / 2.0
        return 2.0 * u_x / (x.size * y.size) - 1.0

    effect = float(rank_biserial(np.arange(n))[0])
    indices = stratified_bootstrap_indices(in_x, n_resamples, seed)
    ci_low, ci_high = percentile_interval(rank_biserial(indices), confidence)
    return TestResult(name, float(result.statistic), float(result.pvalue), effect,
                      "rank_biserial", ci_low, ci_high, n)


def monte_carlo_pvalue(observed: float, null: np.ndarray, alternative: str = "greater") -> float:
    """Monte Carlo p-value of ``observed`` among ``null`` draws, counting the observed itself.

    ``greater``: (1 + #{null ≥ observed}) / (N + 1); ``less`` mirrors it; ``two-sided`` doubles
    the smaller one-sided p (capped at 1). Never below 1/(N + 1).
    """
    null = np.asarray(null, dtype=float)
    greater = (1.0 + np.sum(null >= observed)) / (null.size + 1.0)
    less = (1.0 + np.sum(null <= observed)) / (null.size + 1.0)
    if alternative == "greater":
        return float(greater)
    if alternative == "less":
        return float(less)
    if alternative == "two-sided":
        return float(min(1.0, 2.0 * min(greater, less)))
    raise ValueError(f"alternative must be 'greater', 'less' or 'two-sided', not {alternative!r}")
