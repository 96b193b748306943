"""The ``emodb`` backend: EmoDB's hand-labelled phone boundaries (``lablaut/``) as alignments.

Berlin Database of Emotional Speech, folder ``download/``: one ``lablaut/<utt_id>xx.lablaut`` per
utterance (one file, ``14b09Ea.lablaut``, lacks the ``xx``). The format is xlabel's: header lines up
to a line ``#``, then one line per label, ``<time> -1 <label>[<TAB or spaces><marks>...]``. Read
against the syllable files (``silb/``) and the audio, the time is where the labelled segment
*starts*; it lasts until the next labelled line, and the final label ``.`` marks the end of speech
(before the first label and after ``.`` is silence). Lines without a label carry only marks
(``+lar``/``-lar`` laryngealisation on/off, ``+sth``/``-sth`` voiced/voiceless, ``+nas``, ``+hoe``,
digits for accent levels …) inside the current segment; marks are not used here. Two files of the
release (``08a01Ab``, ``08a01Wa``) hold the header only: their utterances are ``empty alignment``.

Labels are German SAMPA (Wells; see :mod:`emocue.phones`) with EmoDB's narrow conventions, mapped
by :func:`sampa_label`: a plosive is labelled in phases — closure ``_t`` or ``t``, release ``!t``,
aspiration ``tasp`` — which are merged into one phone; doubled symbols (``NN``) are long
consonants; capitals of weakened or variant consonants (``V`` ʋ, ``B`` β, ``D``, ``G`` ɣ, ``H`` ɦ,
``L``, ``J``) map to their SAMPA base, and the /r/ variants ``X`` and ``4`` (as in "Schrank") to ``R``.
``(`` / ``(gef`` (a mark before vowel onsets) and anything else without a SAMPA reading are class
``other`` and counted by :func:`label_census`.

Words: ``silb/<utt_id>.silb`` holds the syllables (``<start time><TAB>syllable``, last ``.``)
without word boundaries (``la pen`` for "Lappen", repeated or split syllables such as ``könnte te``).
:func:`word_intervals` assigns each syllable to a word of the utterance's transcript (the sentence
of its text code) by matching their letters, in order; a word starts at its first syllable and
ends where the next word starts (or at ``.``). Where a file is missing or a word gets no syllable,
the utterance has phones only (logged; its QA row shows ``n_words`` 0). On the release 532 of the
533 utterances with phone labels get words (``13a01Wb``'s ``silb`` file is empty).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from emocue.align.intervals import (
    LABELS_MISSING, Alignment, AlignmentError, Interval, normalise_transcript, require_folder,
)
from emocue.align.tables import SessionAlignment, build_session_tables, utterances_from_manifest
from emocue.features import FbankOptions
from emocue.identifiers import child_path
from emocue.phones import OTHER, phone_class

log = logging.getLogger("emocue.align")

PHONE_SET = "sampa_german"
END_OF_SPEECH = "."
LABEL_SUFFIXES = ("xx.lablaut", ".lablaut")  # <utt_id>xx.lablaut, or <utt_id>.lablaut for one file
RELEASE, CLOSURE, ASPIRATION = "!", "_", "asp"
# EmoDB symbols outside Wells' German SAMPA -> the SAMPA phone they realise (see the module docstring).
EMODB_VARIANTS = {"V": "v", "B": "b", "D": "d", "G": "g", "H": "h", "L": "l", "J": "j", "X": "R", "4": "R",
                  "A": "a", "AO": "aO", "AU": "aU",
                  "dsap": "d", "gas": "g"}  # the last two: typos of the aspiration labels dasp, gasp
_LINE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s+-?\d+\s?(.*)$")
_MARK_START = re.compile(r"[+\-\[\d]")


def split_label(text: str) -> tuple[str, list[str]]:
    """(label, marks) of the text after ``-1``; label ``""`` for a marks-only line."""
    tokens = text.split()
    if not tokens or _MARK_START.match(tokens[0]):
        return "", tokens
    label, glued = re.match(r"([^+\-]+)(.*)", tokens[0]).groups()  # "I+nas": a mark glued to the label
    return label, ([glued] if glued else []) + tokens[1:]


def sampa_label(label: str) -> str:
    """The German SAMPA phone an EmoDB label stands for (``!t``, ``_t``, ``tasp`` -> ``t``)."""
    base = label
    if len(base) > 1 and base[0] in (RELEASE, CLOSURE):
        base = base[1:]
    if base.endswith(ASPIRATION) and len(base) > len(ASPIRATION):
        base = base[: -len(ASPIRATION)]
    if len(base) == 2 and base[0] == base[1] and phone_class(base[0], PHONE_SET) != OTHER:
        base = base[0]  # NN, nn, ss: a long consonant
    return EMODB_VARIANTS.get(base, base)


PLOSIVES = frozenset("p b t d k g".split())


def continues_plosive(label: str, previous_phone: str) -> bool:
    """A release ``!t`` or aspiration ``tasp`` continues the plosive whose closure precedes it; a bare
    release ``!`` (6 labels in the release, each after a plosive) continues whichever plosive it follows."""
    if label == RELEASE:
        return previous_phone in PLOSIVES
    phase = (len(label) > 1 and label[0] == RELEASE) or (label.endswith(ASPIRATION) and len(label) > len(ASPIRATION))
    return phase and sampa_label(label) == previous_phone


def read_label_lines(path: str | Path) -> list[tuple[float, str]]:
    """(start time, label) of every labelled line after the ``#`` header end (marks-only lines dropped)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="latin-1").splitlines()
    except OSError as err:
        raise AlignmentError(f"{path}: cannot read the EmoDB label file ({err})") from err
    if "#" not in (line.strip() for line in lines):
        raise AlignmentError(f"{path}: no '#' line ending the xlabel header; not an EmoDB label file")
    body = lines[[line.strip() for line in lines].index("#") + 1:]
    labels = []
    for number, line in enumerate(body, start=len(lines) - len(body) + 1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if not match:
            raise AlignmentError(f"{path}, line {number}: expected '<time> -1 <label>', got {line!r}")
        label, _marks = split_label(match.group(2))
        if label:
            labels.append((float(match.group(1)), label))
    return labels


def read_syllables(path: str | Path) -> list[tuple[float, str]]:
    """(start time, syllable) of a ``silb`` file, the final ``.`` (end of speech) included."""
    syllables = []
    for number, line in enumerate(Path(path).read_text(encoding="latin-1").splitlines(), start=1):
        fields = line.split(None, 1)
        if not fields:
            continue
        try:
            syllables.append((float(fields[0]), fields[1].strip() if len(fields) > 1 else ""))
        except ValueError as err:
            raise AlignmentError(f"{path}, line {number}: expected '<time><TAB><syllable>', got {line!r}") from err
    return syllables


def _letters(text: str) -> str:
    return re.sub(r"[\W\d_]", "", text.lower())


def word_intervals(syllables: list[tuple[float, str]], transcript: str | None, end_s: float) -> tuple[Interval, ...]:
    """The word tier from syllables and the transcript's words, or ``()`` when they do not match.

    Letters of the syllables are matched to letters of the words (difflib, in order); a syllable
    belongs to the word most of its matched letters fall in (unmatched or out-of-order ones to the
    word before). Silence before the first word and after ``.`` up to ``end_s``.
    """
    words = normalise_transcript(transcript).split()
    spoken = [(time, text) for time, text in syllables if text != END_OF_SPEECH]
    if not words or not spoken:
        return ()
    owner = [index for index, word in enumerate(words) for _ in _letters(word)]
    syllable_letters = [_letters(text) for _, text in spoken]
    matcher = difflib.SequenceMatcher(None, "".join(syllable_letters), "".join(_letters(w) for w in words),
                                      autojunk=False)
    word_at = {a + k: owner[b + k] for a, b, n in matcher.get_matching_blocks() for k in range(n)}
    first_syllable: dict[int, float] = {}
    position, current = 0, 0
    for (time, _text), letters in zip(spoken, syllable_letters):
        votes = [word_at[q] for q in range(position, position + len(letters)) if q in word_at]
        position += len(letters)
        if votes:
            current = max(current, max(set(votes), key=votes.count))  # never back to an earlier word
        first_syllable.setdefault(current, time)
    if sorted(first_syllable) != list(range(len(words))):
        return ()
    speech_end = next((time for time, text in syllables if text == END_OF_SPEECH), spoken[-1][0])
    starts = [first_syllable[index] for index in range(len(words))]
    tier = [Interval(0.0, starts[0], "")] if starts[0] > 0 else []
    tier += [Interval(start, end, word) for start, end, word in zip(starts, [*starts[1:], speech_end], words)]
    return tuple(tier + ([Interval(speech_end, end_s, "")] if end_s > speech_end else []))


def read_lablaut(path: str | Path, duration_s: float | None = None,
                 words: tuple[Interval, ...] = ()) -> Alignment:
    """One utterance's phones from its label file; silence before the first label and after ``.``.

    Segments of one plosive (closure, release, aspiration) become one phone labelled with its SAMPA
    symbol; every other label is mapped by :func:`sampa_label`. ``words``: the word tier, if known.
    """
    labels = read_label_lines(path)
    if not labels:  # two files of the release (08a01Ab, 08a01Wa) are a header only: QA `empty alignment`
        end_s = duration_s or 0.0
        return Alignment((), (Interval(0.0, end_s, ""),) if end_s else (), 0.0, end_s, PHONE_SET)
    times = [time for time, _ in labels]
    if any(b < a for a, b in zip(times, times[1:])):
        raise AlignmentError(f"{path}: label times decrease; the file is damaged")
    speech_end = times[-1] if labels[-1][1] == END_OF_SPEECH else None
    segments = labels[:-1] if speech_end is not None else labels
    end_s = max(duration_s or 0.0, times[-1])
    phones: list[Interval] = [Interval(0.0, times[0], "")] if times[0] > 0 else []
    bounds = [time for time, _ in segments[1:]] + [speech_end if speech_end is not None else end_s]
    for (start, label), end in zip(segments, bounds):
        symbol = sampa_label(label)
        previous = phones[-1] if phones else None
        if previous and continues_plosive(label, previous.label):
            phones[-1] = Interval(previous.start_s, end, previous.label)
        elif end > start:
            phones.append(Interval(start, end, symbol))
    if phones and phones[-1].end_s < end_s:
        phones.append(Interval(phones[-1].end_s, end_s, ""))
    return Alignment(words=words, phones=tuple(phones), start_s=0.0, end_s=end_s, phone_set=PHONE_SET)


def index_label_files(label_dir: str | Path) -> dict[str, Path]:
    """utt_id -> label file; ``<utt>xx.lablaut`` wins over a ``<utt>.lablaut`` of the same utterance."""
    found: dict[str, Path] = {}
    for suffix in reversed(LABEL_SUFFIXES):  # the preferred suffix last, so that it wins
        for path in sorted(Path(label_dir).glob(f"*{suffix}")):
            stem = path.name[: -len(suffix)]
            if suffix == ".lablaut" and stem.endswith("xx"):
                continue
            found[stem] = path
    return found


def label_census(paths: Iterable[str | Path]) -> dict:
    """Counts of every label over ``paths`` by class (of its SAMPA mapping), with the unclassified ones."""
    classes: Counter[str] = Counter()
    unclassified: Counter[str] = Counter()
    n_files = 0
    for path in paths:
        n_files += 1
        previous = ""
        for _time, label in read_label_lines(path):
            if label == END_OF_SPEECH:
                continue
            symbol = previous if continues_plosive(label, previous) else sampa_label(label)
            phone = phone_class(symbol, PHONE_SET)
            previous = symbol
            classes[phone] += 1
            if phone == OTHER:
                unclassified[label] += 1
    return {"n_files": n_files, "classes": dict(classes), "unclassified": dict(unclassified.most_common())}


def align_from_emodb_labels(
    session: str,
    manifest: pl.DataFrame,
    label_dir: str | Path,
    on_bad_input: str = "fail",
    fbank: FbankOptions = FbankOptions.defaults(),
) -> SessionAlignment:
    """The ``emodb`` backend: one session's tables from EmoDB's ``lablaut`` files in ``label_dir``."""
    require_folder(label_dir, "align.emodb_label_dir", "EmoDB's download/lablaut (default: <corpus.root>/lablaut)")
    files = index_label_files(label_dir)
    utterances = {utt.utt_id: utt for utt in utterances_from_manifest(manifest)}
    utt_of = {path: utt for utt, path in files.items()}
    syllable_dir = syllable_folder(label_dir)
    phones_only = []

    def read(path: Path) -> Alignment:
        utt = utterances[utt_of[path]]
        syllables = child_path(syllable_dir, f"{utt.utt_id}.silb")  # ids were checked when the corpus was read
        words = word_intervals(read_syllables(syllables), utt.transcript, utt.duration_s) if syllables.is_file() else ()
        if not words:
            phones_only.append(utt.utt_id)
        return read_lablaut(path, utt.duration_s, words)

    result = build_session_tables(
        session, list(utterances.values()), files, missing_reason=LABELS_MISSING,
        on_bad_input=on_bad_input, fbank=fbank, read=read,
        fix=f"Check align.emodb_label_dir ({label_dir}): EmoDB has one <utt_id>xx.lablaut per utterance",
    )
    if phones_only:
        log.warning("%s: %d utterance(s) have phones but no words (no %s/<utt_id>.silb, or its syllables do "
                    "not match the transcript): %s", session, len(phones_only), syllable_dir, ", ".join(phones_only))
    return result


def syllable_folder(label_dir: str | Path) -> Path:
    """EmoDB's ``silb/`` beside ``lablaut/``."""
    return Path(label_dir).parent / "silb"
