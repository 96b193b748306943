"""Training speed: seconds per training epoch and utterances/s for BLSTMATT and CSA.

Sizes:
- demo:  the default config.yaml models on a demo-sized set (172 training utterances, 120-490
  frames, like the generated demo corpus);
- paper: the paper preset's models (2x512 BLSTM + 128 attention; 128-channel CSA) on a synthetic
  IEMOCAP-sized set: 4290 utterances (Sessions 1-4), log-normal lengths with median 350 frames
  (≈ IEMOCAP's 4.5 s mean), clipped to 80-3000 frames.

Where a full epoch would take too long (paper size on a CPU), the first batches of a shuffled,
length-bucketed epoch are timed for at least --budget seconds and the epoch time is extrapolated
by frame count (``extrapolated`` column). Data are random: speed does not depend on content.

    .venv/bin/python benchmarks/train.py                     # CPU, demo + paper sizes
    .venv/bin/python benchmarks/train.py --device cuda --sizes paper
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from emocue.config import load_config
from emocue.models import build_model, model_config
from emocue.train import Split, make_data, resolve_device, train_epoch

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"demo": REPO / "config.yaml", "paper": REPO / "workflow" / "presets" / "paper.yaml"}


def synthetic_split(size: str, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    if size == "demo":
        lengths = rng.integers(120, 490, 172)
    else:
        lengths = np.clip(rng.lognormal(np.log(350), 0.6, 4290), 80, 3000).astype(int)
    feats = [rng.standard_normal((n, 23), dtype=np.float32) for n in lengths]
    return Split("train", [f"u{i}" for i in range(len(lengths))], rng.integers(0, 4, len(lengths)), feats)


def frames(data, items) -> int:
    """Frames the model processes for these items (utterance lengths, or C per CSA chunk)."""
    lengths = getattr(data, "lengths", None)
    return int(lengths[items].sum()) if lengths is not None else len(items) * data.data.shape[-1]


class FirstBatches:
    """The first ``limit`` batches of a data set's epoch (for timing part of an epoch)."""

    def __init__(self, data, limit: int):
        self.data, self.limit = data, limit
        self.item_utterance = data.item_utterance

    def batches(self, rng=None):
        self.items, self.frames = 0, 0
        for batch in itertools.islice(self.data.batches(rng), self.limit):
            self.items += len(batch.items)
            self.frames += frames(self.data, batch.items)
            yield batch

    def __len__(self) -> int:
        return max(self.items, 1)


def time_epoch(model_name: str, size: str, device: torch.device, context: int | None, budget: float) -> dict:
    config = load_config(CONFIGS[size])
    split = synthetic_split(size)
    data = make_data(model_name, split, config[model_name]["batch_size"], device, context, config["csa"]["overlap"])
    torch.manual_seed(0)
    model = build_model(model_name, model_config(model_name, config[model_name])).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    n_batches = -(-len(data) // data.batch_size)  # pools are whole batches, so this holds for both
    train_epoch(model, FirstBatches(data, 2), optimizer, rng, device)  # warm-up (allocator, cuDNN plans)
    limit, elapsed, part = 1, 0.0, None
    while True:  # grow the timed part until it takes ≥ budget seconds or covers the epoch
        part = FirstBatches(data, limit)
        if device.type == "cuda":
            torch.cuda.synchronize()
        tic, cpu_tic = time.perf_counter(), time.process_time()
        train_epoch(model, part, optimizer, np.random.default_rng(1), device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed, cpu = time.perf_counter() - tic, time.process_time() - cpu_tic
        if elapsed >= budget or limit >= n_batches:
            break
        limit = min(n_batches, max(limit * 2, int(limit * budget / max(elapsed, 1e-3))))
    utterances = len(split)
    scale = frames(data, np.arange(len(data))) / part.frames
    epoch_seconds = elapsed * scale
    return {
        "model": model_name, "size": size, "context": context, "device": str(device),
        "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "utterances": utterances, "items": len(data), "timed_batches": min(limit, n_batches),
        "batches": n_batches, "extrapolated": limit < n_batches,
        "epoch_s": epoch_seconds, "utterances_per_s": utterances / epoch_seconds,
        "epoch_cpu_s": cpu * scale,  # process CPU time: what the wall time is on an idle machine
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--sizes", nargs="+", default=["demo", "paper"], choices=list(CONFIGS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds to time per case (at least)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# device {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}")
    cases = [("blstmatt", None)] + [("csa", c) for c in (20, 120)]
    header = ("| model | size | C | params (M) | utterances | items | timed batches | epoch (s) | utt/s "
              "| epoch CPU (s) |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for size in args.sizes:
        for model_name, context in cases:
            if size == "demo" and context == 20:
                context = 30  # the demo config's shortest context
            if size == "demo" and context == 120:
                context = 60
            row = time_epoch(model_name, size, device, context, args.budget)
            timed = f"{row['timed_batches']}/{row['batches']}" + (" (extrapolated)" if row["extrapolated"] else "")
            print(f"| {model_name} | {size} | {context or '-'} | {row['parameters_m']:.2f} | {row['utterances']} "
                  f"| {row['items']} | {timed} | {row['epoch_s']:.1f} | {row['utterances_per_s']:.0f} "
                  f"| {row['epoch_cpu_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
