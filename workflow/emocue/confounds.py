"""Acoustic confounds: is "attention on vowels" just "attention on loud, voiced frames"?

Per feature frame t (the frame grid of ``docs/outputs.md``: 25 ms window, 10 ms shift, centre at
t·0.010 + 0.0125 s) of every test utterance:

* ``log_energy`` — log of the mean squared sample over the frame's window (the same samples the
  log-Mel frame sees);
* ``voicing`` — Praat's voicing strength: the normalised autocorrelation peak of the chosen pitch
  candidate (``Sound.to_pitch_ac``, 10 ms step, 75–600 Hz, Praat's defaults otherwise) through
  praat-parselmouth; 0 where Praat calls the frame unvoiced;
* ``f0_hz`` — Praat's F0 there (0 when unvoiced);
* ``relative_position`` — (t + 0.5) / T.

**Model.** Over speech frames (vowel or consonant), normalised attention a_t (or IG weight) is
regressed by ordinary least squares on ``vowel`` (1/0) alone, then on ``vowel`` + within-utterance
z-scores of log energy and of log F0 (0 when unvoiced) + voicing + relative position and its square.
Standard errors are **cluster-robust by utterance** (statsmodels ``OLS(...).fit(cov_type="cluster")``)
rather than a mixed model: frames of one utterance are strongly autocorrelated (attention is
smooth), and cluster-robust errors allow any within-utterance correlation, whereas a
random-intercept MixedLM assumes exchangeable correlation — and a_t has mean 1 in every utterance by
construction, so a random intercept has nothing to absorb. Covariates are z-scored within utterance
for the same reason: only where a frame stands relative to the rest of its utterance can move
attention, which is normalised per utterance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from emocue.attention import CLASS_CODES
from emocue.features import load_waveform
from emocue.phones import VOWEL

FRAME_SHIFT, FRAME_LENGTH, SAMPLE_RATE = 160, 400, 16000
PITCH_FLOOR_HZ, PITCH_CEILING_HZ = 75.0, 600.0
CONTROLS = ("log_energy_z", "log_f0_z", "voicing", "position", "position_sq")
COVARIATE_SCHEMA = {"utt_id": pl.String, "frame": pl.Int32, "log_energy": pl.Float64,
                    "voicing": pl.Float64, "f0_hz": pl.Float64, "relative_position": pl.Float64}


def frame_covariates(samples: np.ndarray, n_frames: int) -> dict[str, np.ndarray]:
    """Covariates of the first ``n_frames`` feature frames of one utterance (samples in [-1, 1))."""
    import parselmouth

    t = np.arange(n_frames)
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(samples.astype(np.float64), (0, FRAME_LENGTH)), FRAME_LENGTH)[t * FRAME_SHIFT]
    log_energy = np.log(np.mean(windows**2, axis=1) + 1e-10)
    pitch = parselmouth.Sound(samples.astype(np.float64), SAMPLE_RATE).to_pitch_ac(
        time_step=FRAME_SHIFT / SAMPLE_RATE, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ)
    selected = pitch.selected_array
    centres = (t * FRAME_SHIFT + FRAME_LENGTH / 2) / SAMPLE_RATE
    nearest = np.clip(np.round((centres - pitch.xs()[0]) / pitch.time_step).astype(int), 0, pitch.n_frames - 1) \
        if pitch.n_frames else None
    f0 = selected["frequency"][nearest] if nearest is not None else np.zeros(n_frames)
    strength = selected["strength"][nearest] if nearest is not None else np.zeros(n_frames)
    voiced = f0 > 0
    return {"log_energy": log_energy, "voicing": np.where(voiced, strength, 0.0),
            "f0_hz": np.where(voiced, f0, 0.0), "relative_position": (t + 0.5) / n_frames}


def session_covariates(manifest: pl.DataFrame, frame_counts: dict[str, int]) -> pl.DataFrame:
    """Covariates of every utterance of a manifest (``utt_id``, ``audio_path``) with frame counts."""
    parts = []
    for utt_id, path in manifest.select("utt_id", "audio_path").iter_rows():
        if utt_id not in frame_counts:
            continue
        values = frame_covariates(load_waveform(path), frame_counts[utt_id])
        parts.append(pl.DataFrame({"utt_id": utt_id, "frame": np.arange(frame_counts[utt_id], dtype=np.int32),
                                   **values}, schema=COVARIATE_SCHEMA))
    return pl.concat(parts) if parts else pl.DataFrame(schema=COVARIATE_SCHEMA)


def design(frames: pl.DataFrame) -> pl.DataFrame:
    """Regression columns from frames with ``value``, ``is_vowel`` and the raw covariates."""
    def z(expr: pl.Expr) -> pl.Expr:
        centred = expr - expr.mean().over("utt_id")
        sd = expr.std().over("utt_id")
        return pl.when(sd > 0).then(centred / sd).otherwise(0.0)

    log_f0 = pl.when(pl.col("f0_hz") > 0).then(pl.col("f0_hz").log())
    return frames.with_columns(
        z(pl.col("log_energy")).alias("log_energy_z"),
        z(log_f0).fill_null(0.0).alias("log_f0_z"),
        pl.col("relative_position").alias("position"),
        (pl.col("relative_position") ** 2).alias("position_sq"),
        pl.col("is_vowel").cast(pl.Float64).alias("vowel"),
    )


@dataclass(frozen=True)
class Coefficient:
    model: str  # "without_controls" | "with_controls"
    term: str
    estimate: float
    ci_low: float
    ci_high: float
    pvalue: float
    n_frames: int
    n_utterances: int


def cluster_robust_ols(frames: pl.DataFrame, controls: tuple[str, ...] = CONTROLS) -> list[Coefficient]:
    """value ~ vowel [+ controls], cluster-robust (utterance) SEs; every coefficient of both fits."""
    import statsmodels.api as sm

    data = design(frames).drop_nulls(["value"])
    groups = data["utt_id"].cast(pl.Categorical).to_physical().to_numpy()
    y = data["value"].to_numpy()
    out = []
    for name, terms in (("without_controls", ("vowel",)), ("with_controls", ("vowel", *controls))):
        x = sm.add_constant(np.column_stack([data[t].to_numpy() for t in terms]), has_constant="add")
        fit = sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)  # t with G - 1 df
        ci = fit.conf_int(0.05)
        for i, term in enumerate(("const", *terms)):
            out.append(Coefficient(name, term, float(fit.params[i]), float(ci[i, 0]), float(ci[i, 1]),
                                   float(fit.pvalues[i]), int(y.size), int(np.unique(groups).size)))
    return out


def coefficient_table(coefficients: list[Coefficient]) -> pl.DataFrame:
    return pl.DataFrame([vars(c) for c in coefficients])


def speech_frames(values: pl.DataFrame, classes: pl.DataFrame, covariates: pl.DataFrame) -> pl.DataFrame:
    """Join per-frame ``value`` (utt_id, frame, value), ``class_code`` and covariates; speech only."""
    return (
        values.join(classes, on=["utt_id", "frame"], how="inner")
        .filter(pl.col("class_code") > 0)
        .with_columns((pl.col("class_code") == CLASS_CODES[VOWEL]).alias("is_vowel"))
        .join(covariates, on=["utt_id", "frame"], how="inner")
    )
