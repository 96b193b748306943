"""Kaldi fbank features: shape, kaldi-native-fbank cross-check, batching, resampling/mix-down,
storage, speaker statistics and normalisation. ~5 s."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import soundfile as sf
import torch
import torchaudio.functional
from fake_iemocap import write_tone

from emocue.features import (
    FbankOptions,
    extract_features,
    fbank,
    fbank_batch,
    knf_fbank,
    load_features,
    load_waveform,
    normalise,
    speaker_stats,
    write_session_features,
)

OPTIONS = FbankOptions.defaults()


def speech_like(seconds: float, seed: int, sample_rate: int = 16000) -> np.ndarray:
    """Harmonic tone with a gliding pitch, an amplitude envelope and noise; float32 in [-1, 1)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = rng.uniform(100, 250) * (1 + 0.2 * np.sin(2 * np.pi * 1.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 5) * t) ** 2
    signal = envelope * sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2 + rng.normal(0, 0.01, len(t))
    # Quantise like a 16-bit wav, so the values are what a file would hold.
    return (np.round(signal * 32767) / 32768).astype(np.float32)


@pytest.mark.parametrize("num_samples", [400, 401, 559, 560, 16000, 16000 * 3 + 77])
def test_fbank_shape_follows_snip_edges(num_samples):
    feats = fbank(speech_like(num_samples / 16000, seed=num_samples), OPTIONS)
    assert feats.dtype == np.float32
    assert feats.shape == (1 + (num_samples - 400) // 160, 23) == (OPTIONS.num_frames(num_samples), 23)
    assert np.isfinite(feats).all()


def test_fbank_shorter_than_a_window_has_no_frames():
    assert fbank(np.zeros(399, np.float32), OPTIONS).shape == (0, 23)


@pytest.mark.parametrize("seconds", [0.3, 2.0, 4.7])
def test_fbank_matches_kaldi_native_fbank(seconds):
    waveform = speech_like(seconds, seed=int(seconds * 10))
    ours, reference = fbank(waveform, OPTIONS), knf_fbank(waveform, OPTIONS)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() < 1e-3
    # Kaldi scale (16-bit sample range): a 0.2-amplitude tone has log-mel energies well above 10.
    assert ours.max() > 10


def test_fbank_matches_kaldi_native_fbank_with_other_options():
    options = FbankOptions.defaults(num_mel_bins=40, frame_length_ms=20.0, frame_shift_ms=5.0)
    waveform = speech_like(1.3, seed=3)
    ours, reference = fbank(waveform, options), knf_fbank(waveform, options)
    assert ours.shape == reference.shape == (options.num_frames(len(waveform)), 40)
    assert np.abs(ours - reference).max() < 1e-3


def test_batched_fbank_equals_one_call_per_utterance():
    rng = np.random.default_rng(0)
    waveforms = [speech_like(n / 16000, seed=i) for i, n in enumerate(rng.integers(400, 40000, 12))]
    waveforms.insert(3, np.zeros(100, np.float32))  # too short: no frames, neighbours unaffected
    batched = fbank_batch(waveforms, OPTIONS)
    for waveform, feats in zip(waveforms, batched):
        alone = fbank_batch([waveform], OPTIONS)[0]
        assert feats.shape == alone.shape
        np.testing.assert_allclose(feats, alone, rtol=0, atol=1e-5)  # float rounding of larger FFT/matmul batches


def test_load_waveform_mixes_down_and_resamples(tmp_path):
    t = np.arange(44100) / 44100
    left, right = 0.4 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    mono = load_waveform(tmp_path / "stereo.wav", 16000)
    expected = torchaudio.functional.resample(torch.from_numpy(((left + right) / 2).astype(np.float32)),
                                              44100, 16000).numpy()
    assert mono.dtype == np.float32 and mono.shape == (16000,)
    np.testing.assert_allclose(mono, expected, atol=1e-6)
    spectrum = np.abs(np.fft.rfft(mono))
    assert np.argmax(spectrum) == 440  # 1 s at 16 kHz: bin k is k Hz; the tone survives resampling
    assert np.abs(mono[1000:-1000]).max() == pytest.approx(0.3, abs=0.01)  # the channel mean


def test_load_waveform_keeps_16k_mono_samples(tmp_path):
    write_tone(tmp_path / "a.wav", 0.5)
    samples, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    np.testing.assert_array_equal(load_waveform(tmp_path / "a.wav"), samples)


def make_session(tmp_path) -> pl.DataFrame:
    """A manifest of 5 wavs (one 8 kHz, one stereo) of 2 speakers."""
    rows = []
    for i, (speaker, rate, channels) in enumerate([("A", 16000, 1), ("A", 8000, 1), ("B", 16000, 2),
                                                   ("B", 16000, 1), ("A", 16000, 1)]):
        path = tmp_path / f"u{i}.wav"
        samples = speech_like(0.5 + 0.3 * i, seed=i, sample_rate=rate)
        sf.write(path, np.repeat(samples[:, None], channels, axis=1), rate, subtype="PCM_16")
        rows.append({"utt_id": f"u{i}", "speaker": speaker, "audio_path": str(path),
                     "duration_s": len(samples) / rate, "sample_rate": rate, "num_channels": channels})
    manifest = pl.DataFrame(rows)
    manifest.write_parquet(tmp_path / "manifest.parquet")
    return manifest


def test_write_session_features_and_stats(tmp_path):
    manifest = make_session(tmp_path)
    write_session_features(tmp_path / "manifest.parquet", tmp_path / "out/S.npz", tmp_path / "out/S.stats.parquet")
    features = load_features(tmp_path / "out/S.npz")
    assert features.utt_ids.tolist() == manifest["utt_id"].to_list()
    assert features.feats.dtype == np.float32 and features.feats.shape[1] == 23
    for row in manifest.iter_rows(named=True):
        expected = fbank(load_waveform(row["audio_path"]), OPTIONS)
        np.testing.assert_allclose(features.get(row["utt_id"]), expected, rtol=0, atol=1e-5)
        assert len(expected) == OPTIONS.num_frames(round(row["duration_s"] * 16000))
    stats = pl.read_parquet(tmp_path / "out/S.stats.parquet")
    assert stats["speaker"].to_list() == ["A", "B"]
    frames_a = np.concatenate([features.get(u) for u in ["u0", "u1", "u4"]]).astype(np.float64)
    row_a = stats.row(0, named=True)
    assert row_a["num_frames"] == len(frames_a)
    np.testing.assert_allclose(row_a["mean"], frames_a.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(row_a["var"], frames_a.var(axis=0), rtol=1e-9)


def test_extract_features_small_batches_equal_large(tmp_path):
    manifest = make_session(tmp_path)
    args = (manifest["audio_path"].to_list(), manifest["utt_id"].to_list(), OPTIONS)
    small, large = extract_features(*args, batch_seconds=0.1), extract_features(*args, batch_seconds=100)
    np.testing.assert_array_equal(small.offsets, large.offsets)
    np.testing.assert_allclose(small.feats, large.feats, rtol=0, atol=1e-5)


@pytest.fixture
def session_features(tmp_path):
    manifest = make_session(tmp_path)
    features = extract_features(manifest["audio_path"].to_list(), manifest["utt_id"].to_list(), OPTIONS)
    speaker_of = dict(zip(manifest["utt_id"], manifest["speaker"]))
    return features, speaker_of


def test_normalise_speaker(session_features):
    features, speaker_of = session_features
    normalised = normalise(features, "speaker", speaker_stats(features, speaker_of), speaker_of)
    for speaker in ("A", "B"):
        frames = np.concatenate([normalised.get(u) for u, s in speaker_of.items() if s == speaker])
        np.testing.assert_allclose(frames.mean(axis=0), 0, atol=1e-4)
        np.testing.assert_allclose(frames.std(axis=0), 1, atol=1e-3)
    assert normalised.feats.dtype == np.float32
    np.testing.assert_array_equal(normalised.offsets, features.offsets)


def test_normalise_utterance(session_features):
    features, _ = session_features
    normalised = normalise(features, "utterance")
    for utt_id in features.utt_ids.tolist():
        np.testing.assert_allclose(normalised.get(utt_id).mean(axis=0), 0, atol=1e-4)
        np.testing.assert_allclose(normalised.get(utt_id).std(axis=0), 1, atol=1e-3)


def test_normalise_none_and_errors(session_features):
    features, speaker_of = session_features
    assert normalise(features, "none") is features
    with pytest.raises(ValueError, match="features.normalisation"):
        normalise(features, "global")
    with pytest.raises(ValueError, match="stats"):
        normalise(features, "speaker")
    stats = speaker_stats(features, speaker_of).filter(pl.col("speaker") == "A")
    with pytest.raises(KeyError, match="'B'"):
        normalise(features, "speaker", stats, speaker_of)
