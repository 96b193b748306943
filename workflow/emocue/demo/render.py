"""One utterance: espeak-ng audio at 16 kHz, its word and phone intervals, and its TextGrid."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from praatio import textgrid
from scipy.signal import resample_poly

from emocue.demo.constants import SAMPLE_RATE
from emocue.demo.cues import PlantedCue
from emocue.demo.espeak import PhonemeEvent, espeak
from emocue.demo.sentences import Sentence, espeak_input
from emocue.demo.voices import Prosody, Voice

# Non-speech tokens some transcripts carry, and whether the sound precedes the speech.
NON_SPEECH_BEFORE_SPEECH = {"[BREATHING]": True, "[LAUGHTER]": False}

@dataclass(frozen=True)
class Interval:
    start: int  # samples at SAMPLE_RATE
    end: int
    label: str


@dataclass
class Rendered:
    audio: np.ndarray  # int16 at SAMPLE_RATE
    words: list[Interval]
    phones: list[Interval]


def to_output_rate(samples: np.ndarray | int, source_rate: int):
    """Resample audio, or map a sample position, from espeak-ng's rate to SAMPLE_RATE."""
    divisor = math.gcd(SAMPLE_RATE, source_rate)
    up, down = SAMPLE_RATE // divisor, source_rate // divisor
    if isinstance(samples, np.ndarray):
        return resample_poly(samples.astype(np.float64), up, down)
    return round(samples * up / down)


# espeak-ng events that continue the previous phoneme rather than start a CMU phone: the
# r-colouring after a schwa-r (`3` then `r-`) and the off-glide of a final tense i (`i:` then `;`).
CONTINUATION_EVENTS = frozenset({"r-", ";"})
# espeak-ng synthesizes a liquid (R, L) after a vowel as the final part of that vowel's formant
# sequence, so the liquid's event coincides with the next event. Such a phone gets this share of
# the joint span (the rest stays with the vowel); every other boundary is espeak-ng's own.
ABSORBED_PHONE_SHARE = 1 / 3


@dataclass
class _TimedPhone:
    start: int
    end: int
    name: str
    word: int


def timed_phones(sentence: Sentence, events: list[PhonemeEvent], positions: list[int], num_samples: int,
                 source_rate: int) -> tuple[list[Interval], list[Interval]]:
    """Word and phone intervals (output-rate samples) from espeak-ng's phoneme events.

    A phone lasts from its event to the next event (phone or pause) or to the end of the audio
    (`num_samples` at `source_rate`); pauses become gaps, i.e.
    empty intervals in the TextGrid. Events are assigned to words by their text position, and each
    word must yield exactly its CMU phones — otherwise the labels would not match the audio.
    """
    end = to_output_rate(num_samples, source_rate)
    boundaries = [min(to_output_rate(event.sample, source_rate), end) for event in events] + [end]
    timed: list[_TimedPhone] = []
    for index, event in enumerate(events):
        if event.name.startswith("_"):
            continue
        # The position is that of the word's first phoneme character (a leading stress mark may
        # be skipped), so an event belongs to the last word starting at or before it.
        word = bisect.bisect_right(positions, event.text_position) - 1
        if word < 0:
            raise RuntimeError(f"espeak-ng phoneme {event.name!r} at text position {event.text_position} "
                               f"belongs to no word of {sentence.text!r}")
        if event.name in CONTINUATION_EVENTS and timed and timed[-1].word == word:
            timed[-1].end = boundaries[index + 1]
        else:
            timed.append(_TimedPhone(boundaries[index], boundaries[index + 1], event.name, word))
    share_absorbed_phones(timed, sentence)
    words, phones = [], []
    for index, (word, expected) in enumerate(zip(sentence.words, sentence.phones)):
        got = [phone for phone in timed if phone.word == index]
        if len(got) != len(expected):
            raise RuntimeError(f"espeak-ng produced {[phone.name for phone in got]} for {word!r}, "
                               f"expected one phoneme per CMU phone {list(expected)}")
        phones += [Interval(phone.start, phone.end, label) for phone, label in zip(got, expected)]
        words.append(Interval(got[0].start, got[-1].end, word))
    return words, phones


def share_absorbed_phones(timed: list[_TimedPhone], sentence: Sentence) -> None:
    """Give zero-length phones (absorbed into the preceding vowel) a share of that vowel's span."""
    index = 0
    while index < len(timed):
        absorbed = index
        while absorbed < len(timed) and timed[absorbed].end <= timed[absorbed].start:
            absorbed += 1
        if absorbed == index:
            index += 1
            continue
        if index == 0:
            raise RuntimeError(f"espeak-ng produced a zero-length first phone in {sentence.text!r}")
        host = timed[index - 1]
        count = absorbed - index
        span = host.end - host.start
        if span <= count:
            raise RuntimeError(f"espeak-ng produced phones too short to share in {sentence.text!r}")
        cut = host.end - max(count, round(span * ABSORBED_PHONE_SHARE))
        edges = np.linspace(cut, host.end, count + 1).round().astype(int)
        host.end = cut
        for phone, start, end in zip(timed[index:absorbed], edges[:-1], edges[1:]):
            phone.start, phone.end = int(start), int(end)
        index = absorbed


def non_speech_sound(token: str, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Soft noise standing in for a transcribed non-speech event (float, output rate)."""
    noise = rng.normal(0, 1, num_samples)
    t = np.arange(num_samples) / SAMPLE_RATE
    if token == "[LAUGHTER]":  # breathy bursts at ~5 Hz
        envelope = np.clip(np.sin(2 * np.pi * 5 * t), 0, None) ** 2
        return 900 * envelope * noise
    smooth = np.convolve(noise, np.ones(8) / 8, mode="same")  # breathing: low-passed, swelling
    return 700 * np.sin(np.pi * t / t[-1]) * smooth


def render_utterance(sentence: Sentence, voice: Voice, prosody: Prosody, non_speech: str | None,
                     rng: np.random.Generator, cue: PlantedCue | None = None) -> Rendered:
    """Synthesize one utterance: leading/trailing pause, optional non-speech sound, noise floor,
    and (planted-cue corpora) the emotion's cue spliced into the cue class's phone intervals."""
    synth = espeak()
    text, positions = espeak_input(sentence)
    raw, events = synth.synthesize(text, voice.espeak_name, prosody, int(rng.integers(1, 2**31)))
    words, phones = timed_phones(sentence, events, positions, len(raw), synth.sample_rate)
    speech = to_output_rate(raw, synth.sample_rate)
    lead = int(rng.uniform(0.12, 0.35) * SAMPLE_RATE)
    tail = int(rng.uniform(0.10, 0.30) * SAMPLE_RATE)
    pieces = [np.zeros(lead), speech, np.zeros(tail)]
    if non_speech:  # placed before or after the speech like the token in the transcript
        sound = non_speech_sound(non_speech, int(rng.uniform(0.3, 0.5) * SAMPLE_RATE), rng)
        if NON_SPEECH_BEFORE_SPEECH[non_speech]:
            pieces.insert(0, sound)
            lead += len(sound)
        else:
            pieces.append(sound)
    audio = np.concatenate(pieces)
    audio += rng.normal(0, 6.0, len(audio))  # recording noise floor (~ -75 dBFS)
    phones = shifted(phones, lead)
    if cue is not None:
        audio = cue.apply(audio, phones)
    audio = np.clip(np.round(audio), -32768, 32767).astype(np.int16)
    return Rendered(audio, shifted(words, lead), phones)


def shifted(intervals: list[Interval], offset: int) -> list[Interval]:
    return [Interval(i.start + offset, i.end + offset, i.label) for i in intervals]


def write_textgrid(path: Path, rendered: Rendered) -> None:
    """Tiers `words` and `phones`; praatio fills every gap (pauses, edges) with an empty interval so
    that each tier tiles [0, duration] like MFA's output."""
    duration = len(rendered.audio) / SAMPLE_RATE
    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=duration)
    for name, intervals in (("words", rendered.words), ("phones", rendered.phones)):
        entries = [(i.start / SAMPLE_RATE, i.end / SAMPLE_RATE, i.label) for i in intervals]
        grid.addTier(textgrid.IntervalTier(name, entries, 0.0, duration), reportingMode="error")
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True, reportingMode="error")

