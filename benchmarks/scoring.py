"""Speed of the score stage (emocue.scoring) on the largest system it scores: CSA on IEMOCAP-sized
folds, utterance and chunk level, several seeds, `evaluation.bootstrap` resamples.

Synthetic decisions: `--folds` folds of `--utterances` test utterances each (IEMOCAP has ≈ 5531
utterances in its 4 classes, ≈ 1106 per session), `--chunks` chunks per utterance (CSA at C = 30
with overlap 10 gives ≈ 20 for a 4.5 s utterance), `--seeds` seeds. Prints the time of one
`score_system` call, best of `--repeats`.
Usage: python benchmarks/scoring.py [--folds 5] [--utterances 1106] [--seeds 3] [--chunks 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from emocue.scoring import EvaluationSettings, score_system

CLASSES = ["neutral", "happy", "angry", "sad"]


def decisions(folds: int, utterances: int, seeds: int, chunks: int) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    tables = []
    for seed in range(1, seeds + 1):
        for fold in (f"Session{number}" for number in range(1, folds + 1)):
            labels = rng.integers(0, 4, utterances)
            preds = np.where(rng.random(utterances) < 0.7, labels, rng.integers(0, 4, utterances))
            utt_ids = np.array([f"{fold}_{i}" for i in range(utterances)])
            for level, ids, true, predicted in (
                ("utterance", utt_ids, labels, preds),
                ("chunk", np.repeat(utt_ids, chunks), np.repeat(labels, chunks),
                 rng.integers(0, 4, utterances * chunks)),
            ):
                tables.append(pl.DataFrame({
                    "level": level, "fold": fold, "seed": seed, "utt_id": ids,
                    "label": np.array(CLASSES)[true], "pred": np.array(CLASSES)[predicted]}))
    return pl.concat(tables).cast({"seed": pl.Int32})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--utterances", type=int, default=1106)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    table = decisions(args.folds, args.utterances, args.seeds, args.chunks)
    settings = EvaluationSettings.defaults(bootstrap=args.bootstrap)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        score_system(table, CLASSES, "CSA-C30", settings)
        times.append(time.perf_counter() - start)
    print(f"{args.folds} folds x {args.utterances} utterances x {args.seeds} seeds, {args.chunks} "
          f"chunks per utterance ({table.height} decisions), {args.bootstrap} resamples: "
          f"{min(times):.1f} s")


if __name__ == "__main__":
    main()
