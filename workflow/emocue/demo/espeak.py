"""The espeak-ng library through ctypes, one forked synthesis per utterance (reproducible)."""

from __future__ import annotations

import ctypes
import functools
import os
import pickle
from dataclasses import dataclass

import numpy as np

from emocue.demo.constants import DemoError
from emocue.demo.voices import Prosody

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

