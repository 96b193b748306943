"""Integrated Gradients (Captum) per frame: a second opinion on where the evidence is.

For a test utterance x (T, F) of true class y and the model's utterance log-posterior
f(x) = log p(y | x) (BLSTMATT directly; CSA through its chunks, averaged, exactly as scored):

    IG_{t,f} = (x_{t,f} − x'_{t,f}) · ∫₀¹ ∂f(x' + s (x − x')) / ∂x_{t,f} ds       (Sundararajan et al. 2017)

approximated by Captum's ``IntegratedGradients`` (Gauss–Legendre, ``ig_steps`` points). Baseline
x' = 0, the speaker's mean frame after speaker normalisation — the same neutral frame the deletion
test fills in. Completeness: Σ_{t,f} IG = f(x) − f(x'); the residual is stored as
``convergence_delta``.

Per frame the attribution is the net contribution of the frame, ``ig_t = Σ_f IG_{t,f}``; its
magnitude |ig_t| normalised over the utterance is written as a curve with exactly the columns of
``attention.parquet`` (``utt_id``, ``frame``, ``weight``), so the attention stage's mapping and
tests (``emocue.attention.analyse``) run on it unchanged: IG weights are aggregated per phone and
phone class like attention (a_t = weight · T, 1.0 = uniform). Agreement with attention is the
per-utterance Spearman rank correlation of α_t and |ig_t|.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import spearmanr

from emocue import stats
from emocue.causal import TestUtterances

BASELINE = "zeros (the speaker's mean frame after speaker normalisation)"


def integrated_gradients(score, utterances: TestUtterances, n_steps: int) -> pl.DataFrame:
    """Per frame of every utterance: signed ``attribution`` Σ_f IG_{t,f} for the true class, and the
    utterance's ``convergence_delta`` (completeness residual)."""
    import torch
    from captum.attr import IntegratedGradients

    def forward(x: torch.Tensor) -> torch.Tensor:  # (B, T, F) -> (B, K)
        return score(x, torch.full((x.shape[0],), x.shape[1], dtype=torch.int64))

    method = IntegratedGradients(forward)
    parts = []
    for u, utt_id in enumerate(utterances.utt_ids):
        x = torch.from_numpy(np.ascontiguousarray(utterances.feats[u], dtype=np.float32))[None]  # (1, T, F)
        attribution, delta = method.attribute(
            x, baselines=torch.zeros_like(x), target=int(utterances.labels[u]), n_steps=n_steps,
            internal_batch_size=n_steps, return_convergence_delta=True,
        )
        per_frame = attribution[0].sum(dim=1).double().numpy()  # (T,)
        parts.append(pl.DataFrame({
            "utt_id": utt_id, "frame": np.arange(per_frame.size, dtype=np.int32),
            "attribution": per_frame, "convergence_delta": float(delta.item()),
        }))
    return pl.concat(parts)


def as_curves(attributions: pl.DataFrame) -> pl.DataFrame:
    """IG as an attention-like table: ``weight`` = |attribution| / Σ_t |attribution| per utterance
    (uniform where every attribution is 0)."""
    magnitude = pl.col("attribution").abs()
    total = magnitude.sum().over("utt_id")
    return attributions.with_columns(
        pl.when(total > 0).then(magnitude / total).otherwise(1.0 / pl.len().over("utt_id")).alias("weight")
    )


def attention_agreement(attention: pl.DataFrame, attributions: pl.DataFrame) -> pl.DataFrame:
    """Per utterance: Spearman ρ between attention α_t and IG |ig_t| over its frames."""
    joined = attention.select("utt_id", "frame", "weight").join(
        as_curves(attributions).select("utt_id", "frame", pl.col("weight").alias("ig_weight")),
        on=["utt_id", "frame"], how="inner",
    ).sort("utt_id", "frame")
    rows = []
    for (utt_id,), group in joined.group_by("utt_id", maintain_order=True):
        rho = spearmanr(group["weight"].to_numpy(), group["ig_weight"].to_numpy()).statistic
        rows.append({"utt_id": utt_id, "n_frames": group.height, "spearman": float(rho)})
    return pl.DataFrame(rows, schema={"utt_id": pl.String, "n_frames": pl.Int64, "spearman": pl.Float64})


def agreement_summary(agreement: pl.DataFrame, n_resamples: int, seed: int) -> stats.TestResult:
    """Mean per-utterance Spearman ρ with a bootstrap CI; p: Wilcoxon signed-rank of ρ vs 0."""
    rho = agreement["spearman"].drop_nans().drop_nulls().to_numpy()
    rank_test = stats.signed_rank_test(rho, 1, seed)
    if rho.size == 0:
        return rank_test
    ci_low, ci_high = stats.bootstrap_ci(lambda idx: rho[idx].mean(axis=1), rho.size, n_resamples, seed)
    return stats.TestResult("attention_ig_spearman", rank_test.statistic, rank_test.pvalue,
                            float(rho.mean()), "mean_spearman", ci_low, ci_high, int(rho.size))
