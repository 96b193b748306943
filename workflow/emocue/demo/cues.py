"""Planted cues (``demo.cue``): corpora whose emotion evidence sits in a known phone class.

``global`` (the default) is the ordinary demo corpus: emotion is prosody over the whole utterance.
For the planted corpora every utterance is synthesized with the speaker's **neutral** prosody (and
a sentence drawn independently of its label), so nothing outside the cue depends on the emotion:

* ``vowels`` / ``consonants``: inside every phone interval of that class (the synthesizer's own
  timings, exactly the TextGrid's) the neutral waveform x is replaced by an emotion-specific
  transform y = T_e(x); elsewhere the samples are untouched. The splice is
  ``x + w · (y − x)`` with a mask w that is 1 inside the intervals and 0 outside, ramped with a
  raised cosine over the first and last ``RAMP_S`` of each interval (inside it), so outside the
  cue class the waveform is bit-identical for every emotion.
* ``none``: no transform at all; the labels are drawn as usual, so they are independent of the
  audio (a null corpus: nothing to find).

The transforms keep every duration (no time stretching, so the phone timings hold) and act on the
short-time spectrum that log-Mel features see: angry louder and brighter (first-difference
pre-emphasis), happy a 1–3 kHz band boost with a 9 Hz tremolo, sad softer and darker (one-pole
low-pass), neutral the identity. Each utterance's cue strength is jittered (uniform 0.6–1.4 × the
label's strength) and every emotion, neutral included, gets a random level offset inside the cue
intervals, so level alone does not separate the classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

from emocue.demo.constants import SAMPLE_RATE, DemoError
from emocue.phones import CONSONANT, VOWEL, phone_class

CUES = ("global", "vowels", "consonants", "none")
CUE_PHONE_CLASS = {"vowels": VOWEL, "consonants": CONSONANT}
RAMP_S = 0.005  # raised-cosine ramp at each end of a cue interval, inside it
STRENGTH_JITTER = (0.6, 1.4)  # uniform factor on the label's strength, per utterance
LEVEL_JITTER_DB = 1.5  # s.d. of the random level offset inside the cue intervals (every emotion)


@dataclass(frozen=True)
class CueStyle:
    """Emotion-specific signal change inside the cue intervals (at strength 1)."""

    gain_db: float = 0.0
    brightness: float = 0.0  # > 0: add b · first difference (brighter); < 0: mix in a low-pass (darker)
    band_boost: float = 0.0  # add this multiple of the 1-3 kHz band
    tremolo_depth: float = 0.0  # amplitude modulation depth at TREMOLO_HZ


TREMOLO_HZ = 9.0
CUE_STYLES = {
    "neutral": CueStyle(),
    "angry": CueStyle(gain_db=3.0, brightness=0.6),
    "happy": CueStyle(gain_db=1.0, band_boost=1.0, tremolo_depth=0.3),
    "sad": CueStyle(gain_db=-3.0, brightness=-0.7),
}
_BAND = butter(2, [1000, 3000], btype="band", fs=SAMPLE_RATE, output="sos")
_LOW_POLE = 0.7  # one-pole low-pass y[n] = (1 − a) x[n] + a y[n−1], cut-off ≈ 900 Hz


def check_cue(cue: str) -> str:
    if cue not in CUES:
        raise DemoError(f"demo.cue: {cue!r} is not one of {list(CUES)}")
    return cue


@dataclass(frozen=True)
class PlantedCue:
    """One utterance's cue: the phone class it lives in, the emotion, and its drawn jitter."""

    phone_class: str
    emotion: str
    strength: float
    level_db: float
    tremolo_phase: float

    @classmethod
    def draw(cls, cue: str, emotion: str, label_strength: float, rng: np.random.Generator) -> PlantedCue:
        """The cue of one utterance (``cue`` is ``vowels`` or ``consonants``); 3 draws from rng."""
        return cls(
            phone_class=CUE_PHONE_CLASS[cue],
            emotion=emotion,
            strength=label_strength * rng.uniform(*STRENGTH_JITTER),
            level_db=rng.normal(0.0, LEVEL_JITTER_DB),
            tremolo_phase=rng.uniform(0, 2 * np.pi),
        )

    def transformed(self, audio: np.ndarray) -> np.ndarray:
        """T_e(audio) over the whole signal (float); duration-preserving."""
        style, s = CUE_STYLES[self.emotion], self.strength
        y = audio.astype(np.float64)
        if style.brightness > 0:
            y = y + style.brightness * s * np.diff(y, prepend=y[:1])
        elif style.brightness < 0:
            b = min(1.0, -style.brightness * s)
            y = (1 - b) * y + b * lfilter([1 - _LOW_POLE], [1, -_LOW_POLE], y)
        if style.band_boost:
            y = y + style.band_boost * s * sosfilt(_BAND, y)
        if style.tremolo_depth:
            t = np.arange(y.size) / SAMPLE_RATE
            y = y * (1 + style.tremolo_depth * s * np.sin(2 * np.pi * TREMOLO_HZ * t + self.tremolo_phase))
        return y * 10 ** ((style.gain_db * s + self.level_db) / 20)

    def apply(self, audio: np.ndarray, phones: list) -> np.ndarray:
        """``audio`` with the cue spliced into the intervals of ``phones`` of this cue's class."""
        mask = cue_mask(audio.size, [(p.start, p.end) for p in phones if phone_class(p.label) == self.phone_class])
        return audio + mask * (self.transformed(audio) - audio)


def cue_mask(num_samples: int, spans: list[tuple[int, int]]) -> np.ndarray:
    """(num_samples,) weight: 1 inside each [start, end) span, 0 outside, raised-cosine ramps of
    ``RAMP_S`` (at most half the span) at both ends *inside* the span."""
    mask = np.zeros(num_samples)
    ramp_max = int(round(RAMP_S * SAMPLE_RATE))
    for start, end in spans:
        start, end = max(0, start), min(num_samples, end)
        if end <= start:
            continue
        ramp = min(ramp_max, (end - start) // 2)
        mask[start:end] = 1.0
        if ramp:
            rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
            mask[start: start + ramp] = rise
            mask[end - ramp: end] = rise[::-1]
    return mask
