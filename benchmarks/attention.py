"""Speed of the attention statistics on an IEMOCAP-sized test set (target: the circular-shift test
with 1241 utterances × 1000 shifts in ≤ 30 s on the 2-core dev machine).

Synthetic utterances of 150–800 frames (1.5–8 s; IEMOCAP's Session 5 averages ≈ 4.5 s). Prints
the time of each step, best of `--repeats`. Usage: python benchmarks/attention.py [--utterances N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from emocue import attention
from emocue.attention_sim import SimulationSpec, simulate


def best_of(repeats: int, function):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--utterances", type=int, default=1241)
    parser.add_argument("--shifts", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    sim = simulate(SimulationSpec(n_utterances=args.utterances, min_frames=150, max_frames=800,
                                  vowel_effect=0.1), seed=0)
    curves, classes = sim.curves, sim.classes
    everyone = np.arange(curves.utt_ids.size)
    print(f"{curves.utt_ids.size} utterances, {curves.offsets[-1]} frames, "
          f"{args.shifts} shifts")

    values = curves.normalised()
    fft_s, differences = best_of(args.repeats, lambda: attention.rotation_differences(
        curves, values, classes))
    draw_s, result = best_of(args.repeats, lambda: attention.circular_shift_test(
        curves, differences, everyone, args.shifts, n_resamples=2000, seed=0))
    print(f"circular shift: all rotations by FFT {fft_s:.2f} s + {args.shifts} shift draws "
          f"and bootstrap CI {draw_s:.2f} s = {fft_s + draw_s:.2f} s  (p = {result.pvalue:.4f})")

    settings = attention.AttentionSettings.defaults(n_shifts=args.shifts, n_bootstrap=2000)
    fold = pl.lit("Session5").alias("fold")
    stage_s, tables = best_of(1, lambda: attention.analyse(
        sim.attention.with_columns(fold), sim.predictions.with_columns(fold), sim.manifest,
        sim.intervals, settings))
    print(f"whole attention_stats analysis (mapping + every test family, {tables.tests.height} "
          f"tests, both variants, 2000 bootstrap resamples): {stage_s:.1f} s")


if __name__ == "__main__":
    main()
