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
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n, size=(n_resamples, n))
    values = np.asarray(statistic(indices), dtype=float)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), NaNs passed through."""
    from scipy.stats import false_discovery_control

    pvalues = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(pvalues, np.nan)
    finite = np.isfinite(pvalues)
    if finite.any():
        adjusted[finite] = false_discovery_control(pvalues[finite], method="bh")
    return adjusted
