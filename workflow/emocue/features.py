"""Per-session log-Mel filterbank features (paper §4.1: 23-dim, 25 ms window, 10 ms shift).

Extraction: soundfile read, mix-down to mono, resampling to 16 kHz, then Kaldi-compatible fbank
via ``torchaudio.compliance.kaldi.fbank`` (``fbank``/``fbank_batch``; options below), checked
against kaldi-native-fbank (``knf_fbank``) in the tests.

Storage: one uncompressed ``.npz`` per session with every utterance's (T, 23) float32 matrix
concatenated into ``feats`` (N_frames, 23), row ``offsets`` (U+1) and ``utt_ids`` (U). Loading is
one contiguous read, which keeps IEMOCAP-scale training (≈4.3 M frames) fast.

Normalisation: ``speaker_stats`` (per-speaker mean/variance, audio only) is stored per session;
training applies ``normalise(features, mode, stats, speaker_of)`` as ``features.normalisation``
says (speaker | utterance | none).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from emocue.config import section_defaults

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureSet:
    """All utterances of one session: ``feats[offsets[i]:offsets[i+1]]`` is utterance ``utt_ids[i]``."""

    utt_ids: np.ndarray  # (U,) unicode
    offsets: np.ndarray  # (U+1,) int64
    feats: np.ndarray  # (N_frames, n_mels) float32

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def index(self) -> dict[str, int]:
        return {utt_id: i for i, utt_id in enumerate(self.utt_ids.tolist())}

    def get(self, utt_id: str) -> np.ndarray:
        """The (T, n_mels) matrix of one utterance (a view, no copy)."""
        i = self.index()[utt_id]
        return self.feats[self.offsets[i] : self.offsets[i + 1]]

    def __len__(self) -> int:
        return len(self.utt_ids)


def save_features(path: str | Path, utt_ids: Sequence[str], matrices: Sequence[np.ndarray]) -> None:
    """Write utterance matrices (each (T, n_mels)) as one FeatureSet file."""
    if len(utt_ids) != len(matrices):
        raise ValueError(f"{len(utt_ids)} utt_ids but {len(matrices)} feature matrices")
    n_mels = matrices[0].shape[1] if matrices else 0
    save_feature_set(path, feature_set(utt_ids, matrices, n_mels))


def feature_set(utt_ids: Sequence[str], matrices: Sequence[np.ndarray], n_mels: int) -> FeatureSet:
    """Concatenate (T, n_mels) matrices into a FeatureSet."""
    lengths = np.array([len(m) for m in matrices], dtype=np.int64)
    return FeatureSet(
        utt_ids=np.asarray(list(utt_ids), dtype=str),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        feats=(np.concatenate(matrices).astype(np.float32, copy=False) if matrices
               else np.zeros((0, n_mels), np.float32)),
    )


def save_feature_set(path: str | Path, features: FeatureSet) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:  # a handle keeps numpy from appending ".npz" to the name
        np.savez(handle, utt_ids=features.utt_ids, offsets=features.offsets, feats=features.feats)


def load_features(path: str | Path) -> FeatureSet:
    with np.load(path, allow_pickle=False) as data:
        return FeatureSet(utt_ids=data["utt_ids"], offsets=data["offsets"], feats=data["feats"])


# ---- extraction ---------------------------------------------------------------------------------
# Kaldi `compute-fbank-feats` defaults (torchaudio.compliance.kaldi.fbank) except dither = 0 for
# reproducibility: povey window, pre-emphasis 0.97, DC offset removed per frame, FFT size rounded
# up to a power of two (512), mel bins from 20 Hz to Nyquist, power spectrum, log with a floor of
# FLT_EPSILON, snip_edges (only frames that fit entirely), no energy column, no mean subtraction.
# Samples are scaled to the 16-bit integer range as Kaldi reads wavs, so values match Kaldi's.
KALDI_FBANK_DEFAULTS = dict(
    window_type="povey", preemphasis_coefficient=0.97, remove_dc_offset=True, round_to_power_of_two=True,
    low_freq=20.0, high_freq=0.0, use_power=True, use_log_fbank=True, use_energy=False, snip_edges=True,
    dither=0.0,
)
INT16_SCALE = 32768.0


@dataclass(frozen=True)
class FbankOptions:
    """The `features` section of the config: 23 log-Mel bins, 25 ms window, 10 ms shift, 16 kHz."""

    num_mel_bins: int
    frame_length_ms: float
    frame_shift_ms: float
    sample_rate: int

    @classmethod
    def from_config(cls, features: Mapping) -> FbankOptions:
        return cls(**{key: features[key] for key in ("num_mel_bins", "frame_length_ms", "frame_shift_ms",
                                                     "sample_rate")})

    @classmethod
    def defaults(cls, **overrides) -> FbankOptions:
        """The schema's `features` defaults (their one place), with ``overrides``."""
        return replace(cls.from_config(section_defaults("features")), **overrides)

    @property
    def window_samples(self) -> int:
        return int(self.sample_rate * self.frame_length_ms * 0.001)  # as torchaudio/Kaldi round it

    @property
    def shift_samples(self) -> int:
        return int(self.sample_rate * self.frame_shift_ms * 0.001)

    def num_frames(self, num_samples: int) -> int:
        """Kaldi snip_edges frame count: T = 1 + (n − window) // shift, or 0 if n < window."""
        if num_samples < self.window_samples:
            return 0
        return 1 + (num_samples - self.window_samples) // self.shift_samples


def load_waveform(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Mono float32 samples in [-1, 1) at `sample_rate`: channels averaged, other rates resampled."""
    import soundfile as sf

    samples, file_rate = sf.read(path, dtype="float32", always_2d=True)  # (n, channels)
    mono = samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1, dtype=np.float32)
    if file_rate != sample_rate:
        import torch
        import torchaudio.functional

        mono = torchaudio.functional.resample(torch.from_numpy(np.ascontiguousarray(mono)), file_rate,
                                              sample_rate).numpy()
    return np.ascontiguousarray(mono, dtype=np.float32)


def _torchaudio_fbank(waveform: np.ndarray, options: FbankOptions) -> np.ndarray:
    import torch
    from torchaudio.compliance import kaldi

    signal = torch.from_numpy(waveform * np.float32(INT16_SCALE)).unsqueeze(0)  # (1, n)
    feats = kaldi.fbank(signal, num_mel_bins=options.num_mel_bins, frame_length=options.frame_length_ms,
                        frame_shift=options.frame_shift_ms, sample_frequency=options.sample_rate,
                        **KALDI_FBANK_DEFAULTS)
    return feats.numpy().reshape(-1, options.num_mel_bins)


def fbank(waveform: np.ndarray, options: FbankOptions = FbankOptions.defaults()) -> np.ndarray:
    """(T, num_mel_bins) float32 log-Mel filterbank of one mono utterance (samples in [-1, 1))."""
    return fbank_batch([waveform], options)[0]


def fbank_batch(waveforms: Sequence[np.ndarray], options: FbankOptions = FbankOptions.defaults()) -> list[np.ndarray]:
    """Filterbanks of many utterances from one `kaldi.fbank` call, equal to one call each.

    Kaldi processes every frame on its own (DC removal, pre-emphasis, window, FFT, mel, log all
    act inside the frame). So the utterances are laid end to end, each starting on a multiple of
    the frame shift; the frame grid then lines up with every utterance's own grid, and an
    utterance's frames are exactly the frames lying wholly inside it. The few frames straddling
    two utterances are discarded. Results equal per-utterance calls up to float rounding (~1e-6,
    from the batched FFT/matmul). One call per ~10 s of audio instead of one per utterance saves
    the per-call set-up (window, mel banks); much larger batches get slower again (cache misses).
    """
    shift = options.shift_samples
    starts, position = [], 0
    for waveform in waveforms:
        starts.append(position)
        position += -(-len(waveform) // shift) * shift  # round up to a multiple of the shift
    joined = np.zeros(position, dtype=np.float32)
    for start, waveform in zip(starts, waveforms):
        joined[start : start + len(waveform)] = waveform
    if position >= options.window_samples:
        all_frames = _torchaudio_fbank(joined, options)
    else:  # torchaudio rejects signals shorter than one window
        all_frames = np.zeros((0, options.num_mel_bins), np.float32)
    return [
        all_frames[start // shift : start // shift + options.num_frames(len(waveform))]
        for start, waveform in zip(starts, waveforms)
    ]


def extract_features(audio_paths: Sequence[str], utt_ids: Sequence[str], options: FbankOptions = FbankOptions.defaults(),
                     batch_seconds: float = 10.0, speed: float = 1.0) -> FeatureSet:
    """Read (soundfile), mix down, resample, speed-perturb (``speed`` ≠ 1, emocue.augment) and
    fbank every utterance, in batches of ~`batch_seconds`."""
    from emocue.augment import speed_perturb

    matrices: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    pending_samples = 0
    max_samples = int(batch_seconds * options.sample_rate)
    for path in audio_paths:
        waveform = load_waveform(path, options.sample_rate)
        pending.append(waveform if speed == 1.0 else speed_perturb(waveform, speed, options.sample_rate))
        pending_samples += len(pending[-1])
        if pending_samples >= max_samples:
            matrices += fbank_batch(pending, options)
            pending, pending_samples = [], 0
    matrices += fbank_batch(pending, options)
    return feature_set(utt_ids, matrices, options.num_mel_bins)


def knf_fbank(waveform: np.ndarray, options: FbankOptions = FbankOptions.defaults()) -> np.ndarray:
    """The same features with kaldi-native-fbank (a dev dependency): the reference in tests/benchmarks."""
    import kaldi_native_fbank as knf

    knf_options = knf.FbankOptions()
    frame = knf_options.frame_opts
    frame.samp_freq = options.sample_rate
    frame.frame_length_ms = options.frame_length_ms
    frame.frame_shift_ms = options.frame_shift_ms
    frame.dither = 0.0  # knf's default is 3e-5
    frame.window_type = "povey"
    frame.preemph_coeff = 0.97
    frame.remove_dc_offset = True
    frame.round_to_power_of_two = True
    frame.snip_edges = True
    knf_options.mel_opts.num_bins = options.num_mel_bins
    knf_options.mel_opts.low_freq = 20.0
    knf_options.mel_opts.high_freq = 0.0
    knf_options.use_energy = False
    knf_options.use_power = True
    knf_options.use_log_fbank = True
    computer = knf.OnlineFbank(knf_options)
    computer.accept_waveform(options.sample_rate, waveform * np.float32(INT16_SCALE))
    computer.input_finished()
    frames = [computer.get_frame(i) for i in range(computer.num_frames_ready)]
    return np.array(frames, dtype=np.float32).reshape(-1, options.num_mel_bins)


# ---- normalisation statistics -------------------------------------------------------------------
STATS_SCHEMA = {"speaker": pl.String, "num_frames": pl.Int64, "mean": pl.List(pl.Float64),
                "var": pl.List(pl.Float64)}
NORMALISATION_MODES = ("speaker", "utterance", "none")
VARIANCE_FLOOR = 1e-8


def _segment_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(U, C) sums of values[offsets[i]:offsets[i+1]] (zero for empty segments)."""
    cumulative = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    return cumulative[offsets[1:]] - cumulative[offsets[:-1]]


def frame_speakers(features: FeatureSet, speaker_of: Mapping[str, str]) -> np.ndarray:
    """(N_frames,) speaker of every frame."""
    missing = [u for u in features.utt_ids.tolist() if u not in speaker_of]
    if missing:
        raise KeyError(f"no speaker for utterance(s) {missing[:5]} (is the manifest from the same session?)")
    speakers = np.array([speaker_of[u] for u in features.utt_ids.tolist()], dtype=object)
    return np.repeat(speakers, features.lengths)


def speaker_stats(features: FeatureSet, speaker_of: Mapping[str, str]) -> pl.DataFrame:
    """Per-speaker frame count, mean and variance of every mel bin (audio only, never labels)."""
    speakers = frame_speakers(features, speaker_of)
    rows = []
    for speaker in sorted(set(speakers.tolist())):
        frames = features.feats[speakers == speaker].astype(np.float64)
        rows.append((speaker, len(frames), frames.mean(axis=0).tolist(), frames.var(axis=0).tolist()))
    return pl.DataFrame(rows, schema=STATS_SCHEMA, orient="row")


def normalise(features: FeatureSet, mode: str, stats: pl.DataFrame | None = None,
              speaker_of: Mapping[str, str] | None = None) -> FeatureSet:
    """Mean/variance normalisation of every frame: (x − μ) / sqrt(σ² + 1e-8), per bin.

    speaker: μ, σ² of the utterance's speaker from `stats` (a stats table, with `speaker_of`
    mapping utt_id -> speaker); utterance: of the utterance itself; none: unchanged.
    """
    if mode not in NORMALISATION_MODES:
        raise ValueError(f"features.normalisation: {mode!r} is not one of {NORMALISATION_MODES}")
    if mode == "none" or len(features) == 0:
        return features
    if mode == "utterance":
        counts = np.maximum(features.lengths, 1)[:, None]
        mean = _segment_sums(features.feats.astype(np.float64), features.offsets) / counts
        var = _segment_sums(np.square(features.feats, dtype=np.float64), features.offsets) / counts - mean**2
        frame_mean = np.repeat(mean, features.lengths, axis=0)
        frame_var = np.repeat(var, features.lengths, axis=0)
    else:
        if stats is None or speaker_of is None:
            raise ValueError("speaker normalisation needs the session's stats table and utt_id -> speaker")
        by_speaker = {row["speaker"]: row for row in stats.iter_rows(named=True)}
        speakers = frame_speakers(features, speaker_of)
        unknown = sorted(set(speakers.tolist()) - set(by_speaker))
        if unknown:
            raise KeyError(f"speaker(s) {unknown} have no normalisation statistics")
        names = sorted(by_speaker)
        codes = np.searchsorted(names, speakers)
        frame_mean = np.array([by_speaker[n]["mean"] for n in names])[codes]
        frame_var = np.array([by_speaker[n]["var"] for n in names])[codes]
    normalised = (features.feats - frame_mean) / np.sqrt(np.maximum(frame_var, 0.0) + VARIANCE_FLOOR)
    return FeatureSet(features.utt_ids, features.offsets, normalised.astype(np.float32))


# ---- stage entry point --------------------------------------------------------------------------


def write_session_features(manifest_path: str | Path, features_path: str | Path, stats_path: str | Path,
                           options: FbankOptions = FbankOptions.defaults(), speed: float = 1.0) -> FeatureSet:
    """Rules extract_features / extract_speed_features: features of every manifest utterance
    (manifest order) and speaker stats; a speed-perturbed copy (``speed`` ≠ 1) names its
    utterances and speakers ``sp<speed>-<id>`` (emocue.augment.speed_tag)."""
    from emocue.augment import speed_tag

    manifest = pl.read_parquet(manifest_path)
    if speed != 1.0:
        manifest = manifest.with_columns(pl.concat_str(pl.lit(f"{speed_tag(speed)}-"), pl.col(column)).alias(column)
                                         for column in ("utt_id", "speaker"))
    started = time.perf_counter()
    features = extract_features(manifest["audio_path"].to_list(), manifest["utt_id"].to_list(), options,
                                speed=speed)
    seconds = time.perf_counter() - started
    audio_s = float(manifest["duration_s"].sum() or 0.0)
    resampled = manifest.filter(pl.col("sample_rate") != options.sample_rate).height
    mixed = manifest.filter(pl.col("num_channels") > 1).height
    log.info("%d utterance(s), %d frames, %.1f s audio in %.2f s (%.0fx real time); resampled %d, mixed down %d",
             len(features), len(features.feats), audio_s, seconds, audio_s / max(seconds, 1e-9), resampled, mixed)
    speaker_of = dict(zip(manifest["utt_id"].to_list(), manifest["speaker"].to_list()))
    save_feature_set(features_path, features)
    Path(stats_path).parent.mkdir(parents=True, exist_ok=True)
    speaker_stats(features, speaker_of).write_parquet(stats_path)
    return features
