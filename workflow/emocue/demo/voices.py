"""Demo voices, emotional prosody styles and the raw IEMOCAP label mix."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

@dataclass(frozen=True)
class Prosody:
    """espeak-ng synthesis parameters (espeak_SetParameter units)."""

    rate: float  # words per minute (espeak default 175)
    volume: float  # amplitude, 100 = espeak default (above ~150 espeak-ng clips)
    pitch: float  # base pitch 0-100 (within the voice's pitch range)
    range: float  # pitch range 0-100: 0 is a monotone
    word_gap: int = 0  # extra pause between words, in units of 10 ms

    def clipped(self) -> Prosody:
        return Prosody(
            rate=float(np.clip(self.rate, 90, 350)),
            volume=float(np.clip(self.volume, 10, 150)),
            pitch=float(np.clip(self.pitch, 0, 100)),
            range=float(np.clip(self.range, 0, 100)),
            word_gap=int(np.clip(self.word_gap, 0, 20)),
        )


@dataclass(frozen=True)
class Voice:
    espeak_name: str  # espeak-ng voice + variant, e.g. "en-us+f3"
    gender: str  # "F" or "M"
    baseline: Prosody  # the speaker's neutral delivery


# Five sessions x (one female, one male) = ten voices: distinct espeak-ng variants (formants,
# pitch register) with distinct baseline pitch, range and speaking rate. Baseline volume leaves
# headroom for angry speech below espeak-ng's clipping.
SESSION_VOICES: tuple[tuple[Voice, Voice], ...] = (
    (Voice("en-us+f1", "F", Prosody(172, 55, 60, 50)), Voice("en-us+m1", "M", Prosody(165, 55, 40, 50))),
    (Voice("en-us+f2", "F", Prosody(180, 50, 68, 55)), Voice("en+m3", "M", Prosody(170, 60, 46, 45))),
    (Voice("en-us+f3", "F", Prosody(165, 55, 55, 60)), Voice("en-us+m4", "M", Prosody(178, 50, 36, 55))),
    (Voice("en+f4", "F", Prosody(175, 60, 64, 45)), Voice("en-us+m6", "M", Prosody(160, 55, 42, 50))),
    (Voice("en-us+f5", "F", Prosody(168, 50, 52, 55)), Voice("en-us+m7", "M", Prosody(182, 55, 32, 45))),
)


@dataclass(frozen=True)
class EmotionStyle:
    """How an emotion moves prosody away from the speaker's baseline."""

    rate_factor: float
    volume_factor: float
    pitch_shift: float
    range_shift: float
    word_gap: int = 0


EMOTION_STYLES = {
    "neutral": EmotionStyle(1.00, 1.00, 0, 0),
    "angry": EmotionStyle(1.18, 1.70, 10, 25),
    "happy": EmotionStyle(1.12, 1.20, 16, 32),
    "sad": EmotionStyle(0.78, 0.55, -14, -28, word_gap=2),
}

# Per-utterance jitter (standard deviations): log-normal on rate and volume, additive on pitch and
# range. Moderate, so that neighbouring emotions overlap but the classes stay learnable.
JITTER = {"log_rate": 0.07, "log_volume": 0.18, "pitch": 5.0, "range": 8.0}


@dataclass(frozen=True)
class RawLabel:
    """An IEMOCAP label code, its share of the corpus and how it is rendered."""

    code: str
    share: float
    emotion: str | None  # rendering style; None: a random one of EMOTIONS (annotators disagreed)
    strength: float  # fraction of the style's shift from baseline
    category: str  # annotator category name in EmoEvaluation lines


# Mostly the four IEM4 classes (hap and exc both map to happy); a few labels the IEM4 mapping
# drops (fru, sur, xxx) so that the reader's dropping and counting are exercised.
RAW_LABELS = (
    RawLabel("neu", 0.24, "neutral", 1.0, "Neutral"),
    RawLabel("hap", 0.10, "happy", 1.0, "Happiness"),
    RawLabel("exc", 0.12, "happy", 1.1, "Excited"),
    RawLabel("ang", 0.21, "angry", 1.0, "Anger"),
    RawLabel("sad", 0.21, "sad", 1.0, "Sadness"),
    RawLabel("fru", 0.06, "angry", 0.5, "Frustration"),
    RawLabel("sur", 0.03, "happy", 0.7, "Surprise"),
    RawLabel("xxx", 0.03, None, 0.5, "Other"),
)
# Mean (valence, activation, dominance) on IEMOCAP's 1-5 scale, for the A-* annotator lines.
VAD_MEANS = {
    "neutral": (2.5, 2.5, 2.5), "happy": (4.0, 3.5, 3.0), "angry": (1.5, 4.0, 4.0), "sad": (1.5, 2.0, 2.0),
}  # fmt: skip


def session_voices(session_number: int) -> tuple[Voice, Voice]:
    """(female, male) voice of a session; beyond five sessions the voices repeat, pitched apart."""
    female, male = SESSION_VOICES[(session_number - 1) % len(SESSION_VOICES)]
    shift = 4 * ((session_number - 1) // len(SESSION_VOICES))
    if not shift:
        return female, male
    return tuple(  # type: ignore[return-value]
        Voice(v.espeak_name, v.gender, Prosody(**{**asdict(v.baseline), "pitch": v.baseline.pitch + shift}))
        for v in (female, male)
    )


def utterance_prosody(baseline: Prosody, emotion: str, strength: float, rng: np.random.Generator) -> Prosody:
    """The speaker's baseline moved by the emotion's style (scaled by strength) plus jitter."""
    style = EMOTION_STYLES[emotion]
    return Prosody(
        rate=baseline.rate * style.rate_factor**strength * math.exp(rng.normal(0, JITTER["log_rate"])),
        volume=baseline.volume * style.volume_factor**strength * math.exp(rng.normal(0, JITTER["log_volume"])),
        pitch=baseline.pitch + strength * style.pitch_shift + rng.normal(0, JITTER["pitch"]),
        range=baseline.range + strength * style.range_shift + rng.normal(0, JITTER["range"]),
        word_gap=round(strength * style.word_gap * rng.uniform(0.5, 1.5)),
    ).clipped()

