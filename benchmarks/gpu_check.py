"""GPU check: is the CUDA training path numerically right, and how fast is it? ≤ 5 minutes on one GPU.

1. dtypes: inside the autocast region training uses (bf16, ``emocue.train.autocast``) every LSTM
   computes in float32, the linear and conv layers in bfloat16, α and the log-posteriors in
   float32; parameters and gradients stay float32. On CUDA also: cuDNN RNNs may use TF32
   (``torch.backends.cudnn.rnn.fp32_precision``).
2. precision: one batch (the epoch's longest) through training precision (bf16 autocast, TF32)
   against a strict float32 reference (TF32 off), same weights, dropout off. Tolerance: the loss
   within LOSS_RTOL (1 %) relative, all gradients together within GRAD_RTOL (15 %) relative L2
   error (cosine ≥ 0.989). bf16 keeps 8 significant bits (0.4 % per rounding), but gradients at
   initialisation are sums of many cancelling terms, so their relative error is larger: the CPU
   stand-in (--dry) measures 5-7 %. A broken path (an LSTM in unscaled float16, NaNs, a wrong
   cast) is far outside.
3. speed: one paper-size training epoch (``emocue.train.train_epoch``, Adam) of BLSTMATT and of CSA
   (default C = 20, the context with the most chunks) on the synthetic IEMOCAP-sized training set
   of benchmarks/train.py (4290 utterances, median 350 frames): epoch seconds and peak memory.

    .venv/bin/python benchmarks/gpu_check.py          # on a GPU machine, with the CUDA torch
    .venv/bin/python benchmarks/gpu_check.py --dry    # CPU, tiny sizes: tests the script (test suite)

In --dry mode the CPU stands in for the GPU (CPU bf16 autocast, 16 utterances, config.yaml's small
models); its numbers say nothing about GPU speed. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from train import CONFIGS, FirstBatches, synthetic_split  # benchmarks/train.py (this folder)

from emocue.config import load_config
from emocue.models import build_model, model_config
from emocue.batches import make_data, resolve_device
from emocue.split import Split
from emocue.train import AUTOCAST_DTYPE, train_epoch

LOSS_RTOL = 1e-2
GRAD_RTOL = 0.15
FP32_PRECISION_SETTINGS = ("cuda.matmul", "cudnn.conv", "cudnn.rnn")  # torch.backends.<name>.fp32_precision


def autocast(device: torch.device):
    """Training's autocast region (on the CPU, in --dry mode, its CPU stand-in)."""
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPE)


@contextlib.contextmanager
def strict_float32(device: torch.device):
    """True float32 matmuls, convolutions and RNNs (no TF32) while inside; restored after."""
    if device.type != "cuda":
        yield
        return
    backends = {name: eval(f"torch.backends.{name}") for name in FP32_PRECISION_SETTINGS}  # noqa: S307
    saved = {name: backend.fp32_precision for name, backend in backends.items()}
    try:
        for backend in backends.values():
            backend.fp32_precision = "ieee"
        yield
    finally:
        for name, backend in backends.items():
            backend.fp32_precision = saved[name]


def build(model_name: str, config: dict, device: torch.device, **overrides) -> nn.Module:
    torch.manual_seed(0)
    return build_model(model_name, model_config(model_name, config[model_name], **overrides)).to(device)


def longest_batch(data):
    """The batch of the epoch with the most frames (BLSTMATT), or the first one (CSA: all C frames)."""
    def frames(batch) -> int:
        return batch.inputs[0].shape[1] * len(batch.items)

    longest = None
    for batch in data.batches(np.random.default_rng(0)):  # one batch held at a time
        longest = batch if longest is None or frames(batch) > frames(longest) else longest
    return longest


# ---- 1. dtypes -----------------------------------------------------------------------------------
def check_dtypes(model: nn.Module, batch, device: torch.device) -> list[str]:
    """Problems with the dtypes inside the autocast region (empty when all is as designed)."""
    seen: dict[str, torch.dtype] = {}

    def record(name):
        def hook(module, inputs, output) -> None:  # returns None: the output is left as it is
            seen[name] = (output[0] if isinstance(output, tuple) else output).dtype
        return hook

    hooks = [module.register_forward_hook(record(name)) for name, module in model.named_modules()
             if isinstance(module, (nn.LSTM, nn.Linear, nn.Conv1d, nn.Conv2d))]
    model.zero_grad(set_to_none=True)
    with autocast(device):
        output = model(*batch.inputs)
    F.cross_entropy(output.logits.float(), batch.targets).backward()
    for hook in hooks:
        hook.remove()
    modules = dict(model.named_modules())
    problems = [f"{name} ({type(modules[name]).__name__}) computed in {dtype}"
                for name, dtype in seen.items()
                if dtype != (torch.float32 if isinstance(modules[name], nn.LSTM) else AUTOCAST_DTYPE)]
    if output.attention is not None and output.attention.dtype != torch.float32:
        problems.append(f"attention α in {output.attention.dtype}")
    if output.log_posteriors().dtype != torch.float32:
        problems.append(f"log-posteriors in {output.log_posteriors().dtype}")
    problems += [f"parameter {name} in {p.dtype} (gradient {None if p.grad is None else p.grad.dtype})"
                 for name, p in model.named_parameters()
                 if p.dtype != torch.float32 or p.grad is None or p.grad.dtype != torch.float32]
    if device.type == "cuda" and torch.backends.cudnn.rnn.fp32_precision != "tf32":
        print(f"  note: torch.backends.cudnn.rnn.fp32_precision = {torch.backends.cudnn.rnn.fp32_precision}: "
              "the float32 LSTMs do not use TF32 tensor cores")
    return problems


# ---- 2. one batch against float32 ----------------------------------------------------------------
def loss_and_gradients(model: nn.Module, batch, region) -> tuple[float, torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    with region:
        output = model(*batch.inputs)
    loss = F.cross_entropy(output.logits.float(), batch.targets)
    loss.backward()
    grads = {name: p.grad.detach().float().clone() for name, p in model.named_parameters() if p.grad is not None}
    return loss.item(), torch.cat([g.flatten() for g in grads.values()]), grads


def check_precision(model_name: str, config: dict, batch, device: torch.device) -> dict:
    model = build(model_name, config, device, dropout=0.0).train()  # train mode: cuDNN RNN backward needs it
    with strict_float32(device):
        ref_loss, ref_flat, ref_grads = loss_and_gradients(model, batch, contextlib.nullcontext())
    loss, flat, grads = loss_and_gradients(model, batch, autocast(device))
    cosines = {name: F.cosine_similarity(grads[name].flatten(), g.flatten(), dim=0).item()
               for name, g in ref_grads.items() if g.norm() > 0}
    worst = min(cosines, key=cosines.get)
    result = {
        "loss_fp32": ref_loss, "loss_mixed": loss, "loss_rel_err": abs(loss - ref_loss) / abs(ref_loss),
        "grad_rel_l2": ((flat - ref_flat).norm() / ref_flat.norm()).item(),
        "worst_cosine": cosines[worst], "worst_tensor": worst,
    }
    result["ok"] = result["loss_rel_err"] <= LOSS_RTOL and result["grad_rel_l2"] <= GRAD_RTOL
    return result


# ---- 3. one epoch ------------------------------------------------------------------------------------
def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (KiB on Linux)


def time_epoch(model_name: str, config: dict, data, device: torch.device) -> dict:
    model = build(model_name, config, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["train"]["lr"])
    train_epoch(model, FirstBatches(data, 2), optimizer, np.random.default_rng(0), device)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    tic = time.perf_counter()
    loss = train_epoch(model, data, optimizer, np.random.default_rng(1), device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"epoch_s": time.perf_counter() - tic, "peak_mib": peak_memory_mib(device), "train_loss": loss,
            "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry", action="store_true", help="CPU, tiny sizes (tests this script)")
    parser.add_argument("--contexts", type=int, nargs="+", default=None, help="CSA contexts (default: 20; dry: 30)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.dry:
        torch.set_num_threads(1)
        device, config = torch.device("cpu"), load_config(CONFIGS["demo"])
        full = synthetic_split("demo")
        split = Split("train", full.utt_ids[:16], full.labels[:16], full.feats[:16])
    else:
        device, config = resolve_device("cuda"), load_config(CONFIGS["paper"])
        split = synthetic_split("paper")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU stand-in (--dry)"
    print(f"# gpu_check on {device} ({name}), torch {torch.__version__}, autocast {AUTOCAST_DTYPE}, "
          f"{len(split)} training utterances, {sum(len(f) for f in split.feats)} frames")
    cases = [("blstmatt", None)] + [("csa", c) for c in (args.contexts or ([30] if args.dry else [20]))]
    failed = False
    print("| model | C | params (M) | items | dtypes | loss fp32 | loss mixed | loss rel. err | grad rel. L2 "
          "| worst grad cosine | precision | epoch (s) | peak memory (MiB) |")
    print("|---" * 13 + "|")
    for model_name, context in cases:
        data = make_data(model_name, split, config[model_name]["batch_size"], device, context, config["csa"]["overlap"])
        batch = longest_batch(data)
        problems = check_dtypes(build(model_name, config, device), batch, device)
        precision = check_precision(model_name, config, batch, device)
        epoch = time_epoch(model_name, config, data, device)
        failed |= bool(problems) or not precision["ok"]
        print(f"| {model_name} | {context or '-'} | {epoch['parameters_m']:.2f} | {len(data)} "
              f"| {'ok' if not problems else 'FAIL'} | {precision['loss_fp32']:.5f} | {precision['loss_mixed']:.5f} "
              f"| {precision['loss_rel_err']:.2e} | {precision['grad_rel_l2']:.2e} "
              f"| {precision['worst_cosine']:.4f} ({precision['worst_tensor']}) "
              f"| {'ok' if precision['ok'] else 'FAIL'} | {epoch['epoch_s']:.1f} | {epoch['peak_mib']:.0f} |",
              flush=True)
        for problem in problems:
            print(f"  dtype problem: {problem}")
    print(f"# tolerance: loss rel. err <= {LOSS_RTOL:g}, gradient rel. L2 <= {GRAD_RTOL:g}; "
          f"{'FAILED' if failed else 'all checks passed'}; {time.perf_counter() - started:.0f} s in all")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
