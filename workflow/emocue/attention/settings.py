"""Attention-stage settings, frame class codes and the row format of the test table."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import polars as pl

from emocue import stats
from emocue.config import section_defaults
from emocue.phones import CONSONANT, VOWEL

# Per-frame class codes used by the vectorised statistics (silence/other/unaligned frames: 0).
CLASS_CODES = {VOWEL: 1, CONSONANT: 2}
N_CODES = 3
GREATER = "greater"  # the paper's directional claim: vowels get more attention than consonants


@dataclass(frozen=True)
class AttentionSettings:
    n_shifts: int
    n_bootstrap: int
    alpha: float
    seed: int
    position_bins: int
    min_units: int  # fewest utterances (phones) / tokens per emotion (words) for a test

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

    @classmethod
    def defaults(cls, **overrides) -> AttentionSettings:
        """The schema's `attention` defaults (their one place), with ``overrides``."""
        return replace(cls.from_config(section_defaults("attention")), **overrides)

    def seed_for(self, *keys: str) -> int:
        """A reproducible seed per test and group (independent streams, same across runs)."""
        return self.seed + zlib.crc32("/".join(keys).encode())


# One row of tests.parquet: which test, on which group, and its TestResult columns.
TEST_SCHEMA = {
    "test": pl.String, "variant": pl.String, "group_type": pl.String, "group": pl.String,
    "alternative": pl.String, "name": pl.String, "statistic": pl.Float64, "pvalue": pl.Float64,
    "effect_size": pl.Float64, "effect_size_name": pl.String, "ci_low": pl.Float64,
    "ci_high": pl.Float64, "n": pl.Int64,
}


def result_row(test: str, variant: str, group_type: str, group: str, alternative: str,
               result: stats.TestResult) -> dict:
    return {"test": test, "variant": variant, "group_type": group_type, "group": group,
            "alternative": alternative, **result.as_row()}


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

