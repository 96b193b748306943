"""Alignment basics: the frame <-> time rule, QA reasons, transcripts, and reading TextGrids.

One TextGrid (tiers ``words`` and ``phones``) per utterance is read with praatio into an
:class:`Alignment`; :func:`interval_frames` is the one rule mapping interval times to feature frames.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from praatio import textgrid as praat_textgrid

from emocue.features import FbankOptions

# ---- the frame <-> time rule (docs/outputs.md) ---------------------------------------------------
FRAME_SHIFT_S = 0.010
FRAME_LENGTH_S = 0.025
# Interval ends that land on a frame centre up to float noise (0.0225 s, computed as 0.02250000001)
# must map as if exact, otherwise a boundary frame would switch sides.
_FRAME_EPS = 1e-6

# QA reasons (docs/outputs.md); the attention statistics use only aligned utterances.
NO_TRANSCRIPT = "no transcript"
OOV_ONLY = "OOV only"
MFA_FAILED = "MFA failed"
TEXTGRID_MISSING = "TextGrid missing"
TEXTGRID_UNREADABLE = "TextGrid unreadable"
EMPTY_ALIGNMENT = "empty alignment"
LABELS_MISSING = "phone labels missing"  # emodb backend: no lablaut file for the utterance
LABELS_UNREADABLE = "phone labels unreadable"
# Missing files the user can fix (an error unless on_bad_input: skip), what they are, and the reason
# recorded when such a file exists but cannot be read.
USER_FIXABLE_MISSING = frozenset({TEXTGRID_MISSING, LABELS_MISSING})
MISSING_FILE_KIND = {TEXTGRID_MISSING: "TextGrid named {utt_id}.TextGrid",
                     LABELS_MISSING: "EmoDB label file {utt_id}xx.lablaut"}
UNREADABLE_REASON = {TEXTGRID_MISSING: TEXTGRID_UNREADABLE, MFA_FAILED: TEXTGRID_UNREADABLE,
                     LABELS_MISSING: LABELS_UNREADABLE}

# Word labels of words the aligner could not pronounce (their phones: phones.UNKNOWN_SPEECH_MARKS).
UNKNOWN_WORD_LABELS = frozenset({"<unk>", "<oov>"})


class AlignmentError(RuntimeError):
    """A user-fixable alignment problem; the message names the file/key and what to do."""


def num_frames(duration_s: float, fbank: FbankOptions = FbankOptions.defaults()) -> int:
    """Feature frames of an utterance of ``duration_s`` at the feature sample rate (Kaldi snip_edges)."""
    return fbank.num_frames(int(round(duration_s * fbank.sample_rate)))


def interval_frames(
    start_s,
    end_s,
    n_frames: int,
    frame_shift_s: float = FRAME_SHIFT_S,
    frame_length_s: float = FRAME_LENGTH_S,
) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``[start_frame, end_frame)`` owned by intervals ``[start_s, end_s)`` (the one rule).

    Frame t covers ``[t*shift, t*shift + window)`` and belongs to the interval containing its centre
    ``t*shift + window/2``, so ``start_frame = ceil((start_s - window/2) / shift)`` and likewise for
    the end, clipped to ``[0, n_frames]``. Intervals that tile the time axis give frame ranges that
    tile ``[0, n_frames)``; an interval shorter than a frame may own zero frames. Works on scalars and
    arrays.
    """
    centre_offset = frame_length_s / 2

    def first_frame_at_or_after(t):
        frame = np.ceil((np.asarray(t, dtype=np.float64) - centre_offset) / frame_shift_s - _FRAME_EPS)
        return np.clip(frame, 0, n_frames).astype(np.int64)

    return first_frame_at_or_after(start_s), first_frame_at_or_after(end_s)


# ---- transcripts ---------------------------------------------------------------------------------
_NON_SPEECH = re.compile(r"\[[^\]]*\]|<[^>]*>|\{[^}]*\}")  # [LAUGHTER], <noise>, {breath}
_WORD_CHARS = re.compile(r"[^\w' -]+")  # everything but letters/digits, apostrophes, hyphens, space


def normalise_transcript(text: str | None, case: str = "lower") -> str:
    """Transcript as a dictionary lookup sees it: words only, single spaces, in ``case``.

    Drops non-speech tokens (``[LAUGHTER]``, ``[BREATHING]``, ``<noise>``), punctuation and ``--``;
    hyphens join word parts (``twenty-five`` -> ``twenty five``, a cut-off ``I-`` -> ``I``); an
    apostrophe inside a word stays (``don't``), quotes around words go.
    """
    if case not in ("lower", "upper"):
        raise ValueError(f"case must be 'lower' or 'upper', not {case!r}")
    text = _NON_SPEECH.sub(" ", text or "")
    text = _WORD_CHARS.sub(" ", text).replace("-", " ").replace("_", " ")
    words = [word.strip("'") for word in text.split()]
    words = [word for word in words if word]
    joined = " ".join(words)
    return joined.lower() if case == "lower" else joined.upper()


# ---- TextGrids -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    start_s: float
    end_s: float
    label: str


@dataclass(frozen=True)
class Alignment:
    """One utterance's word and phone tiers (silences included as empty-label intervals).

    ``phone_set`` names the :data:`emocue.phones.PHONE_TABLES` set the phone labels are classed with.
    """

    words: tuple[Interval, ...]
    phones: tuple[Interval, ...]
    start_s: float
    end_s: float
    phone_set: str = "english"


def _find_tier(tier_names: Iterable[str], wanted: str, path: Path) -> str:
    names = list(tier_names)
    # MFA names tiers "<speaker> - words" when a file has several speakers.
    for name in names:
        if name.strip().lower() == wanted:
            return name
    for name in names:
        if name.strip().lower().endswith(wanted):
            return name
    raise AlignmentError(f"{path}: no '{wanted}' tier (tiers: {names}); expected tiers 'words' and 'phones'")


def read_textgrid(path: str | Path) -> Alignment:
    """Read a word/phone TextGrid (long or short Praat format) with praatio."""
    path = Path(path)
    try:
        grid = praat_textgrid.openTextgrid(
            str(path), includeEmptyIntervals=True, reportingMode="silence"
        )
    except Exception as err:  # praatio raises several types for malformed files
        raise AlignmentError(f"{path}: not a readable TextGrid ({type(err).__name__}: {err})") from err
    tiers = {}
    for wanted in ("words", "phones"):
        tier = grid.getTier(_find_tier(grid.tierNames, wanted, path))
        tiers[wanted] = tuple(
            Interval(float(entry.start), float(entry.end), (entry.label or "").strip()) for entry in tier.entries
        )
    return Alignment(tiers["words"], tiers["phones"], float(grid.minTimestamp), float(grid.maxTimestamp))


def require_folder(folder: str | Path, key: str, what: str) -> Path:
    """``folder`` as a Path, or an AlignmentError naming the config ``key`` and what belongs there."""
    if not Path(folder).is_dir():
        raise AlignmentError(f"{key}: folder {folder} does not exist; point it at {what}")
    return Path(folder)


def textgrid_folder(textgrid_dir: str | Path, session: str | None = None) -> Path:
    """Where a session's TextGrids are: ``<dir>/<session>`` when that folder exists, else ``<dir>``."""
    root = Path(textgrid_dir)
    return root / session if session and (root / session).is_dir() else root


def index_textgrids(textgrid_dir: str | Path, session: str | None = None) -> dict[str, Path]:
    """Map utterance id -> TextGrid path for the layouts the workflow accepts.

    ``<dir>/<session>/<utt_id>.TextGrid`` (demo), ``<dir>/<utt_id>.TextGrid`` and MFA's speaker
    folders ``<dir>/[<session>/]<speaker>/<utt_id>.TextGrid``. The session's folder is preferred
    when it exists. Two files for one utterance is an error (which one was meant is unknowable).
    """
    root = textgrid_folder(textgrid_dir, session)
    found: dict[str, Path] = {}
    duplicates = defaultdict(list)
    for path in sorted(root.rglob("*.TextGrid")):
        if path.stem in found:
            duplicates[path.stem].append(path)
        else:
            found[path.stem] = path
    if duplicates:
        listing = "; ".join(f"{utt}: {[str(found[utt]), *map(str, paths)]}" for utt, paths in duplicates.items())
        raise AlignmentError(f"{root}: several TextGrids for one utterance ({listing}); keep one per utterance")
    return found

