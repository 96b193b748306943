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
With ``demo.cue`` set to ``vowels``, ``consonants`` or ``none`` the emotion is instead planted in
one phone class only, or nowhere (:mod:`emocue.demo.cues`).

Modules: ``voices`` (voices, prosody styles, label mix), ``sentences`` (sentence list, CMU
pronunciations, espeak-ng input), ``espeak`` (the library through ctypes), ``render`` (one
utterance + its TextGrid), ``cues`` (planted cues), ``session`` (one session on disk).
"""

from emocue.demo.constants import EMOTIONS, SAMPLE_RATE, DemoError
from emocue.demo.cues import CUE_PHONE_CLASS, CUES, PlantedCue, cue_mask
from emocue.demo.espeak import Espeak, espeak
from emocue.demo.render import Interval, Rendered, render_utterance, timed_phones, write_textgrid
from emocue.demo.sentences import (
    SENTENCES_FILE, Sentence, cmu_dictionary, espeak_input, load_sentences, transcript_words,
)
from emocue.demo.session import generate_session, plan_utterance, write_summary
from emocue.demo.voices import Prosody, Voice, session_voices, utterance_prosody

__all__ = [
    "CUES", "CUE_PHONE_CLASS", "EMOTIONS", "SAMPLE_RATE", "SENTENCES_FILE", "DemoError", "Espeak",
    "Interval", "PlantedCue", "Prosody", "Rendered", "Sentence", "Voice", "cmu_dictionary", "cue_mask",
    "espeak", "espeak_input", "generate_session", "load_sentences", "plan_utterance", "render_utterance",
    "session_voices", "timed_phones", "transcript_words", "utterance_prosody", "write_summary",
    "write_textgrid",
]
