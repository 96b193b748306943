"""Phone classes (vowel / consonant / silence / other) from one explicit table per phone set.

Two phone sets occur in alignments: ARPAbet (CMU dictionary, MFA's ``english_us_arpa`` models, the
demo synthesizer), written in upper case with optional stress digits (``AH0``, ``AE1``), and MFA's
IPA-based ``english_mfa`` set (lower-case IPA such as ``ɑː``, ``tʰ``, ``aj``). The two never share a
symbol once case is kept (ARPAbet ``B`` vs IPA ``b``), so one lookup serves both. Silence and
unknown-speech marks form their own class; anything in none of the tables is ``other`` so that an
unexpected phone set shows up in the QA instead of being counted as a consonant.
"""

from __future__ import annotations

import re

VOWEL, CONSONANT, SILENCE, OTHER = "vowel", "consonant", "silence", "other"
PHONE_CLASSES = (VOWEL, CONSONANT, SILENCE, OTHER)

# Empty intervals (MFA and the demo write silences as ""), Kaldi/MFA silence and spoken-noise marks.
SILENCE_MARKS = frozenset({"", "sil", "sp", "spn", "<unk>", "<eps>"})

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
}


def phone_class(label: str | None) -> str:
    """Class of one phone label: ``vowel``, ``consonant``, ``silence`` or ``other``.

    ARPAbet labels may carry a stress digit (``AH0``); IPA labels are looked up as written.
    """
    label = (label or "").strip()
    if label.lower() in SILENCE_MARKS:
        return SILENCE
    stressed = ARPABET_STRESS.match(label)
    base = stressed.group(1) if stressed else label
    if base in PHONE_TABLES["arpabet"]:
        return PHONE_TABLES["arpabet"][base]
    return PHONE_TABLES["english_mfa"].get(label, OTHER)


def is_silence(label: str | None) -> bool:
    return phone_class(label) == SILENCE
