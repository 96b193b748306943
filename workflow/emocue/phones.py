"""Phone classes (vowel / consonant / silence / other) from one explicit table per phone set.

English phone sets (``phone_set="english"``, the default) occur in MFA and demo alignments:
ARPAbet (CMU dictionary, MFA's ``english_us_arpa`` models, the demo synthesizer), written in
upper case with optional stress digits (``AH0``, ``AE1``), and MFA's IPA-based ``english_mfa`` set
(lower-case IPA such as ``ɑː``, ``tʰ``, ``aj``). The two never share a symbol once case is kept
(ARPAbet ``B`` vs IPA ``b``), so one lookup serves both. German SAMPA
(``phone_set="sampa_german"``, EmoDB's hand labels) shares symbols with ARPAbet that mean other
sounds (SAMPA ``Y`` is a vowel, ARPAbet ``Y`` a consonant), so it is a separate set chosen by the
backend that reads it. Silence marks form their own class. Unknown speech (MFA's spoken-noise /
unknown-word phone ``spn``, ``<unk>``) is speech, not silence: it is ``other`` and counted in the QA.
Anything in none of the tables is ``other`` too, so that an unexpected phone set shows up in the QA
instead of being counted as a consonant.
"""

from __future__ import annotations

import re

VOWEL, CONSONANT, SILENCE, OTHER = "vowel", "consonant", "silence", "other"
PHONE_CLASSES = (VOWEL, CONSONANT, SILENCE, OTHER)

# Empty intervals (MFA and the demo write silences as ""), Kaldi/MFA silence marks.
SILENCE_MARKS = frozenset({"", "sil", "sp", "<eps>"})
# MFA's spoken-noise / unknown-word phone: speech the aligner could not pronounce (class `other`).
UNKNOWN_SPEECH_MARKS = frozenset({"spn", "<unk>"})

# ARPAbet as used by the CMU Pronouncing Dictionary: 15 vowels (stress 0/1/2 appended) and 24
# consonants. Reduced/TIMIT-only symbols (AX, DX, ...) are not part of the CMU set and fall to `other`.
ARPABET_VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
ARPABET_CONSONANTS = frozenset(
    "B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split()
)
ARPABET_STRESS = re.compile(r"^([A-Z]+)[012]$")

# MFA's english_mfa (IPA) inventory for US/UK English, diphthongs as single phones (aj, aw, ej, ow,
# ɔj). Syllabic consonants (m̩, n̩, ɫ̩) stay consonants: the class is about articulation, not syllables.
ENGLISH_MFA_VOWELS = frozenset(
    (
        "a aː aj aw e eː ej i iː o oː ow u uː æ ɐ ɑ ɑː ɒ ɒː ɔ ɔː ɔj "
        "ə ɚ ɛ ɛː ɜ ɜː ɝ ɪ ʉ ʉː ʊ ʌ"
    ).split()
)
ENGLISH_MFA_CONSONANTS = frozenset(
    (
        "b bʲ c cʰ cʷ d dʒ dʲ d̪ f fʲ h j k kʰ kʷ l m mʲ m̩ n n̩ p pʰ pʲ pʷ s t tʃ tʰ tʲ tʷ t̪ "
        "v vʲ w x z ç ð ŋ ɟ ɟʷ ɡ ɡʷ ɫ ɫ̩ ɱ ɲ ɹ ɾ ɾʲ ʃ ʎ ʒ ʔ θ"
    ).split()
)

# German SAMPA after J. C. Wells, "SAMPA for German" (UCL), https://www.phon.ucl.ac.uk/home/sampa/german.htm:
# checked vowels I E a O U Y 9, free vowels i: e: E: a: o: u: y: 2: and their unstressed short forms
# i e o u y 2, schwa @, vocalic r 6 and the diphthongs aI aU OY. Consonants: plosives p b t d k g and
# the glottal stop ?, fricatives f v s z S Z C j x h, nasals m n N, liquids l R r; affricates
# pf ts tS dZ. (Loanword nasal vowels are left out: EmoDB has none, so they stay `other`.)
SAMPA_GERMAN_VOWELS = frozenset("I E a O U Y 9 i: e: E: a: o: u: y: 2: i e o u y 2 @ 6 aI aU OY".split())
SAMPA_GERMAN_CONSONANTS = frozenset("p b t d k g ? f v s z S Z C j x h m n N l R r pf ts tS dZ".split())

# phone set name -> {phone: class}; the single source of truth for classification.
PHONE_TABLES: dict[str, dict[str, str]] = {
    "arpabet": {
        **{phone: VOWEL for phone in ARPABET_VOWELS},
        **{phone: CONSONANT for phone in ARPABET_CONSONANTS},
    },
    "english_mfa": {
        **{phone: VOWEL for phone in ENGLISH_MFA_VOWELS},
        **{phone: CONSONANT for phone in ENGLISH_MFA_CONSONANTS},
    },
    "sampa_german": {
        **{phone: VOWEL for phone in SAMPA_GERMAN_VOWELS},
        **{phone: CONSONANT for phone in SAMPA_GERMAN_CONSONANTS},
    },
}
PHONE_SETS = ("english", "sampa_german")  # "english": ARPAbet + english_mfa (one lookup, see above)


def phone_class(label: str | None, phone_set: str = "english") -> str:
    """Class of one phone label: ``vowel``, ``consonant``, ``silence`` or ``other``.

    ``english``: ARPAbet labels may carry a stress digit (``AH0``); IPA labels are looked up as
    written. ``sampa_german``: looked up as written (EmoDB's label variants are mapped to SAMPA by
    :func:`emocue.align.emodb.sampa_label` before they get here).
    """
    label = (label or "").strip()
    if label.lower() in SILENCE_MARKS:
        return SILENCE
    if label.lower() in UNKNOWN_SPEECH_MARKS:
        return OTHER
    if phone_set != "english":
        if phone_set not in PHONE_TABLES:
            raise ValueError(f"unknown phone set {phone_set!r}; known: {PHONE_SETS}")
        table = PHONE_TABLES[phone_set]
        if label in table:
            return table[label]
        return VOWEL if phone_set == "sampa_german" and _is_vowel_sequence(label) else OTHER
    stressed = ARPABET_STRESS.match(label)
    base = stressed.group(1) if stressed else label
    if base in PHONE_TABLES["arpabet"]:
        return PHONE_TABLES["arpabet"][base]
    return PHONE_TABLES["english_mfa"].get(label, OTHER)


def _is_vowel_sequence(label: str) -> bool:
    """German SAMPA writes a vowel + vocalic r or two-vowel sequence as one segment (``E6``, ``i@``,
    ``aO``): a label that splits into German SAMPA vowels (longest symbols first) is a vowel."""
    symbols = sorted(SAMPA_GERMAN_VOWELS, key=len, reverse=True)
    rest = label
    while rest:
        symbol = next((v for v in symbols if rest.startswith(v)), None)
        if symbol is None:
            return False
        rest = rest[len(symbol):]
    return len(label) > 1


def is_silence(label: str | None) -> bool:
    return phone_class(label) == SILENCE


def is_unknown_speech(label: str | None) -> bool:
    """MFA's ``spn`` / ``<unk>``: a word the aligner could not pronounce, aligned as one blob."""
    return (label or "").strip().lower() in UNKNOWN_SPEECH_MARKS
