"""Feature extraction speed: × real time per core, audio reading included.

Writes synthetic 16 kHz int16 wavs (tones + noise, IEMOCAP-like durations: mean ≈ 4.5 s) to a
temporary folder, then times on one thread (torch.set_num_threads(1)):
  - emocue: `emocue.features.extract_features` (soundfile read + batched torchaudio Kaldi fbank),
  - torchaudio, one `kaldi.fbank` call per utterance (read included),
  - kaldi-native-fbank, one utterance at a time (read included),
each repeated; the fastest repeat is reported (as timeit does: slower repeats measure other
load on the machine, not the code). × real time = audio seconds / CPU seconds of the process.

    .venv/bin/python benchmarks/features.py [--minutes 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from emocue.features import FbankOptions, _torchaudio_fbank, extract_features, knf_fbank, load_waveform

SAMPLE_RATE = 16000


def write_test_audio(folder: Path, minutes: float, seed: int = 0) -> tuple[list[str], float]:
    """Wavs of tone mixtures in noise with gamma-distributed durations; (paths, total seconds)."""
    rng = np.random.default_rng(seed)
    paths, total = [], 0.0
    while total < minutes * 60:
        duration = float(np.clip(rng.gamma(2.0, 2.25), 0.5, 20.0))
        t = np.arange(int(duration * SAMPLE_RATE)) / SAMPLE_RATE
        pitch = rng.uniform(90, 300) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t))
        phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
        signal = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.2 + rng.normal(0, 0.02, len(t))
        path = folder / f"utt{len(paths):05d}.wav"
        sf.write(path, signal.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
        paths.append(str(path))
        total += len(t) / SAMPLE_RATE
    return paths, total


def cpu_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of test audio")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    options = FbankOptions.defaults()
    with tempfile.TemporaryDirectory() as tmp:
        paths, audio_s = write_test_audio(Path(tmp), args.minutes)
        utt_ids = [Path(p).stem for p in paths]
        extract_features(paths[:20], utt_ids[:20], options)  # warm-up (imports, allocator)
        candidates = {
            "emocue extract_features (batched kaldi.fbank, 10 s batches, the default)":
                lambda: extract_features(paths, utt_ids, options, batch_seconds=10),
            "emocue extract_features (batched kaldi.fbank, 60 s batches)":
                lambda: extract_features(paths, utt_ids, options, batch_seconds=60),
            "torchaudio kaldi.fbank, one call per utterance":
                lambda: [_torchaudio_fbank(load_waveform(p), options) for p in paths],
            "kaldi-native-fbank, one utterance at a time":
                lambda: [knf_fbank(load_waveform(p), options) for p in paths],
            "soundfile read only": lambda: [load_waveform(p) for p in paths],
        }
        print(f"{len(paths)} utterances, {audio_s / 60:.1f} min of 16 kHz audio; {platform.processor() or platform.machine()}, "
              f"torch {torch.__version__}, 1 thread, best of {args.repeats}")
        print(f"{'method':<72} {'CPU s':>7} {'x real time per core':>22}")
        for name, run in candidates.items():
            seconds = cpu_seconds(run, args.repeats)
            print(f"{name:<72} {seconds:7.2f} {audio_s / seconds:22.0f}")


if __name__ == "__main__":
    main()
