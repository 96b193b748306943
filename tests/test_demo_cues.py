"""Planted-cue demo corpora (emocue.demo.cues): the cue is confined to its phone class, and it is
learnable there and (almost) only there."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from praatio import textgrid

from emocue import demo
from emocue.align.intervals import interval_frames
from emocue.features import fbank
from emocue.phones import CONSONANT, VOWEL, phone_class


def render(cue: str, emotion: str, sentence_index: int = 3):
    sentence = demo.load_sentences()[sentence_index]
    voice = demo.session_voices(2)[0]
    planted = demo.PlantedCue.draw(cue, emotion, 1.0, np.random.default_rng(7)) if cue != "none" else None
    return demo.render_utterance(sentence, voice, voice.baseline, None, np.random.default_rng(11), planted)


@pytest.mark.parametrize("cue", ["vowels", "consonants"])
def test_waveform_outside_the_cue_class_does_not_depend_on_the_emotion(cue):
    renderings = {emotion: render(cue, emotion) for emotion in demo.EMOTIONS}
    neutral = renderings["neutral"]
    cue_class = demo.CUE_PHONE_CLASS[cue]
    inside = np.zeros(neutral.audio.size, dtype=bool)
    for phone in neutral.phones:
        if phone_class(phone.label) == cue_class:
            inside[phone.start: phone.end] = True
    assert 0.1 < inside.mean() < 0.7
    for emotion, rendered in renderings.items():
        assert rendered.phones == neutral.phones  # identical timings
        # outside the cue intervals (the crossfades lie inside them): bit-identical samples
        np.testing.assert_array_equal(rendered.audio[~inside], neutral.audio[~inside])
        if emotion != "neutral":  # inside: the emotion is audible
            difference = rendered.audio[inside].astype(float) - neutral.audio[inside]
            assert np.sqrt(np.mean(difference**2)) > 0.1 * np.sqrt(np.mean(neutral.audio[inside] ** 2.0))


def test_cue_mask_ramps_stay_inside_their_span():
    mask = demo.cue_mask(1000, [(100, 300), (500, 505)])
    assert np.all(mask[:100] == 0) and np.all(mask[300:500] == 0) and np.all(mask[505:] == 0)
    assert mask[200] == 1 and 0 < mask[100] < 0.1 and 0 < mask[299] < 0.1
    assert np.all(mask[500:505] > 0)


def test_unknown_cue_names_the_key(tmp_path):
    with pytest.raises(demo.DemoError, match="demo.cue"):
        demo.generate_session(tmp_path, tmp_path, "Session1", 1, 1, 2, cue="vowel")


def class_features(wav_path, grid_path) -> dict[str, np.ndarray]:
    """Mean and s.d. of the log-Mel frames of each phone class of one utterance."""
    audio, _ = sf.read(wav_path, dtype="float32")
    feats = fbank(audio)
    tier = textgrid.openTextgrid(str(grid_path), includeEmptyIntervals=False).getTier("phones")
    frame_class = np.full(len(feats), "", dtype=object)
    for start, end, label in tier.entries:
        first, last = interval_frames(start, end, len(feats))
        frame_class[int(first): int(last)] = phone_class(label)
    return {cls: np.r_[feats[frame_class == cls].mean(0), feats[frame_class == cls].std(0)]
            for cls in (VOWEL, CONSONANT)}


def speaker_centred(x: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Features minus their speaker's mean (as speaker normalisation does for the models)."""
    return x - np.stack([x[speakers == s].mean(0) for s in speakers])


def nearest_centroid_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out accuracy of a nearest-class-mean classifier on z-scored features."""
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    hits = 0
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        centroids = {c: x[keep & (y == c)].mean(0) for c in np.unique(y[keep])}
        guess = min(centroids, key=lambda c: np.sum((x[i] - centroids[c]) ** 2))
        hits += guess == y[i]
    return hits / len(y)


@pytest.mark.parametrize("cue", ["vowels", "consonants", "none"])
def test_a_classifier_on_the_cue_class_frames_beats_one_on_the_other_frames(tmp_path, cue):
    """One male speaker's utterances (Session1, seed 3), per-class spectra: only the planted class
    predicts the label (for `none`, neither does)."""
    summary = demo.generate_session(tmp_path / "corpus", tmp_path / "grids", "Session1", 3, 2, 24, cue=cue)
    assert summary["cue"] == cue
    labels = {}
    for path in (tmp_path / "corpus" / "Session1" / "dialog" / "EmoEvaluation").glob("*.txt"):
        for line in path.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) == 4 and parts[2] in {"neu", "ang", "sad", "hap", "exc"}:
                labels[parts[1]] = {"exc": "hap"}.get(parts[2], parts[2])
    features, y, speakers = {VOWEL: [], CONSONANT: []}, [], []
    for utt_id, label in sorted(labels.items()):
        speakers.append(utt_id[-4])  # gender letter of the last id part = the speaker
        wav = next((tmp_path / "corpus" / "Session1" / "sentences" / "wav").glob(f"*/{utt_id}.wav"))
        per_class = class_features(wav, tmp_path / "grids" / "Session1" / f"{utt_id}.TextGrid")
        for cls in features:
            features[cls].append(per_class[cls])
        y.append(label)
    y, speakers = np.array(y), np.array(speakers)
    accuracy = {cls: nearest_centroid_accuracy(speaker_centred(np.array(rows), speakers), y)
                for cls, rows in features.items()}
    chance = max(np.mean(y == c) for c in np.unique(y))
    if cue == "none":
        assert max(accuracy.values()) < chance + 0.2, accuracy
        return
    planted = demo.CUE_PHONE_CLASS[cue]
    other = CONSONANT if planted == VOWEL else VOWEL
    assert accuracy[planted] >= 0.6, accuracy
    assert accuracy[planted] >= accuracy[other] + 0.2, accuracy
