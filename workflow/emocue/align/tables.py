"""Per-session alignment tables (docs/outputs.md): intervals, QA and OOV words, and the summary.

Unaligned utterances are never dropped silently: they stay in the QA table with a reason, and the
attention analysis takes only ``aligned`` utterances.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from emocue.align.intervals import (
    EMPTY_ALIGNMENT, MISSING_FILE_KIND, OOV_ONLY, TEXTGRID_MISSING, TEXTGRID_UNREADABLE, UNREADABLE_REASON,
    USER_FIXABLE_MISSING, UNKNOWN_WORD_LABELS, Alignment, AlignmentError, Interval, index_textgrids, interval_frames,
    num_frames, read_textgrid, require_folder,
)
from emocue.features import FbankOptions
from emocue.phones import is_silence, is_unknown_speech, phone_class

log = logging.getLogger("emocue.align")

# ---- tables --------------------------------------------------------------------------------------
INTERVAL_SCHEMA = {
    "utt_id": pl.String,
    "tier": pl.String,
    "index": pl.Int32,
    "label": pl.String,
    "start_s": pl.Float64,
    "end_s": pl.Float64,
    "start_frame": pl.Int32,
    "end_frame": pl.Int32,
    "phone_class": pl.String,
    "word": pl.String,
    "word_index": pl.Int32,
}
QA_SCHEMA = {
    "utt_id": pl.String,
    "aligned": pl.Boolean,
    "reason": pl.String,
    "cause": pl.String,  # why MFA made no TextGrid, where its outputs state it (else null)
    "n_phones": pl.Int32,  # speech phones with a known pronunciation (spn / <unk> not counted)
    "n_unknown_phones": pl.Int32,  # spn / <unk> phones (words MFA could not pronounce)
    "partly_unknown": pl.Boolean,  # aligned, but part of the speech is spn / OOV

    "n_words": pl.Int32,
    "n_oov": pl.Int32,
    "phones_per_s": pl.Float64,
    "end_mismatch_s": pl.Float64,
}
OOV_SCHEMA = {"word": pl.String, "count": pl.Int32, "n_utterances": pl.Int32, "utt_ids": pl.List(pl.String)}


def _holds(word: Interval, phone: Interval) -> bool:
    """The phone-in-word rule: a word holds the phones whose midpoint lies in it."""
    return word.start_s <= (phone.start_s + phone.end_s) / 2 < word.end_s


def _containing_word(words: tuple[Interval, ...], phone: Interval) -> int | None:
    """Index of the word interval holding the phone's midpoint (None in silence)."""
    for i, word in enumerate(words):
        if _holds(word, phone):
            return i if word.label else None
    return None


def oov_words(alignment: Alignment) -> list[str]:
    """Words the aligner could not pronounce: labelled <unk>, or aligned only to spn/<unk> phones."""
    oovs = []
    for word in alignment.words:
        if not word.label:
            continue
        inside = [p.label.lower() for p in alignment.phones if _holds(word, p)]
        unknown_phones = inside and all(is_unknown_speech(label) for label in inside)
        if word.label.lower() in UNKNOWN_WORD_LABELS or unknown_phones:
            oovs.append(word.label)
    return oovs


def interval_rows(
    utt_id: str, alignment: Alignment, n_frames: int, fbank: FbankOptions = FbankOptions.defaults()
) -> dict[str, list]:
    """Column lists of one utterance's phone and word intervals (silences included)."""
    columns: dict[str, list] = {name: [] for name in INTERVAL_SCHEMA}
    shift_s, window_s = fbank.shift_samples / fbank.sample_rate, fbank.window_samples / fbank.sample_rate
    for tier, intervals in (("phone", alignment.phones), ("word", alignment.words)):
        starts, ends = interval_frames(
            [i.start_s for i in intervals], [i.end_s for i in intervals], n_frames, shift_s, window_s
        )
        for index, (interval, start_frame, end_frame) in enumerate(zip(intervals, starts, ends)):
            word_index = _containing_word(alignment.words, interval) if tier == "phone" else None
            columns["utt_id"].append(utt_id)
            columns["tier"].append(tier)
            columns["index"].append(index)
            columns["label"].append(interval.label)
            columns["start_s"].append(interval.start_s)
            columns["end_s"].append(interval.end_s)
            columns["start_frame"].append(int(start_frame))
            columns["end_frame"].append(int(end_frame))
            columns["phone_class"].append(phone_class(interval.label, alignment.phone_set) if tier == "phone" else None)
            columns["word"].append(alignment.words[word_index].label if word_index is not None else None)
            columns["word_index"].append(word_index)
    return columns


@dataclass
class SessionAlignment:
    """Everything one session's alignment job writes (see :func:`write_session_outputs`)."""

    session: str
    intervals: pl.DataFrame
    qa: pl.DataFrame
    oov: pl.DataFrame
    summary: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Utterance:
    """What the alignment needs from one manifest row."""

    utt_id: str
    duration_s: float
    transcript: str | None = None


def utterances_from_manifest(manifest: pl.DataFrame) -> list[Utterance]:
    transcripts = manifest["transcript"] if "transcript" in manifest.columns else [None] * manifest.height
    return [
        Utterance(utt_id, float(duration), transcript)
        for utt_id, duration, transcript in zip(manifest["utt_id"], manifest["duration_s"], transcripts)
    ]


def build_session_tables(
    session: str,
    utterances: list[Utterance],
    textgrids: Mapping[str, Path],
    missing_reason: str = TEXTGRID_MISSING,
    unaligned_before: Mapping[str, str] | None = None,
    known_oovs: Mapping[str, list[str]] | None = None,
    on_bad_input: str = "fail",
    fbank: FbankOptions = FbankOptions.defaults(),
    read: Callable[[Path], Alignment] = read_textgrid,
    causes: Mapping[str, str] | None = None,
    fix: str = "Fix align.textgrid_dir (or the files)",
) -> SessionAlignment:
    """Intervals, QA and OOV tables of one session from its utterances' alignment files.

    ``textgrids`` maps utt_id to the file ``read`` turns into an :class:`Alignment` (a TextGrid by
    default; EmoDB's label files for the ``emodb`` backend). ``unaligned_before`` holds utterances
    known to be unalignable before any file is read (no transcript, OOV only); ``known_oovs`` the OOV
    words found from the dictionary (MFA backend), else OOVs are read off the alignment (words
    aligned only to ``spn``); ``causes`` the stated cause of each missing file (MFA backend). A
    missing or unreadable file is an error listing every such utterance (and ``fix``) when
    ``on_bad_input`` is ``fail`` and the missing reason is one the user can fix (``TextGrid
    missing``, ``phone labels missing``); otherwise the utterance is recorded in the QA table.
    """
    unaligned_before = dict(unaligned_before or {})
    causes = dict(causes or {})
    columns: dict[str, list] = {name: [] for name in INTERVAL_SCHEMA}
    qa_rows = []
    oov_counts: Counter[str] = Counter()
    oov_utts: dict[str, list[str]] = defaultdict(list)
    bad_input = []

    def record(utt, aligned, reason, n_phones=0, n_words=0, oovs=(), phones_per_s=None, mismatch=None,
               n_unknown=0):
        for word in oovs:
            oov_counts[word] += 1
            if utt.utt_id not in oov_utts[word]:
                oov_utts[word].append(utt.utt_id)
        partly_unknown = bool(aligned and (n_unknown or oovs))
        qa_rows.append((utt.utt_id, aligned, reason, causes.get(utt.utt_id) if not aligned else None, n_phones,
                        n_unknown, partly_unknown, n_words, len(oovs), phones_per_s, mismatch))

    for utt in utterances:
        dictionary_oovs = list((known_oovs or {}).get(utt.utt_id, []))
        if utt.utt_id in unaligned_before:
            record(utt, False, unaligned_before[utt.utt_id], oovs=dictionary_oovs)
            continue
        path = textgrids.get(utt.utt_id)
        if path is None:
            if missing_reason in USER_FIXABLE_MISSING:
                bad_input.append(f"{utt.utt_id}: no {MISSING_FILE_KIND[missing_reason].format(utt_id=utt.utt_id)}")
            record(utt, False, missing_reason, oovs=dictionary_oovs)
            continue
        try:
            alignment = read(path)
        except AlignmentError as err:
            bad_input.append(str(err))
            record(utt, False, UNREADABLE_REASON.get(missing_reason, TEXTGRID_UNREADABLE), oovs=dictionary_oovs)
            continue
        oovs = dictionary_oovs if known_oovs is not None else oov_words(alignment)
        speech = [p for p in alignment.phones if not is_silence(p.label)]
        n_unknown = sum(is_unknown_speech(p.label) for p in speech)
        n_known = len(speech) - n_unknown
        n_words = sum(1 for w in alignment.words if w.label)
        mismatch = alignment.end_s - utt.duration_s
        if not n_known:
            reason = OOV_ONLY if n_unknown or (n_words and len(oovs) >= n_words) else EMPTY_ALIGNMENT
            record(utt, False, reason, 0, n_words, oovs, None, mismatch, n_unknown)
            continue
        span = alignment.end_s - alignment.start_s
        rate = n_known / span if span > 0 else None
        record(utt, True, None, n_known, n_words, oovs, rate, mismatch, n_unknown)
        n_frames = num_frames(utt.duration_s, fbank)
        for name, values in interval_rows(utt.utt_id, alignment, n_frames, fbank).items():
            columns[name].extend(values)

    if bad_input and on_bad_input == "fail":
        listing = "\n  - ".join(bad_input)
        raise AlignmentError(
            f"session {session}: {len(bad_input)} utterance(s) without a usable alignment file:\n  - {listing}\n"
            f"{fix}, or set on_bad_input: skip to record them as not aligned."
        )
    qa = pl.DataFrame(qa_rows, schema=QA_SCHEMA, orient="row")
    oov = pl.DataFrame(
        {
            "word": list(oov_counts),
            "count": [oov_counts[w] for w in oov_counts],
            "n_utterances": [len(oov_utts[w]) for w in oov_counts],
            "utt_ids": [oov_utts[w] for w in oov_counts],
        },
        schema=OOV_SCHEMA,
    ).sort(["count", "word"], descending=[True, False])
    intervals = pl.DataFrame(columns, schema=INTERVAL_SCHEMA)
    return SessionAlignment(session, intervals, qa, oov, session_summary(session, qa, oov))


def session_summary(session: str, qa: pl.DataFrame, oov: pl.DataFrame) -> dict:
    """Counts for the log and the report: aligned share, reasons, OOVs, speaking rate, end mismatch."""
    aligned = qa.filter(pl.col("aligned"))
    reasons = qa.filter(~pl.col("aligned")).group_by("reason").len().sort("reason")
    causes = qa.filter(pl.col("cause").is_not_null()).group_by("cause").len().sort("cause")
    mismatch = aligned["end_mismatch_s"].abs()
    return {
        "session": session,
        "n_utterances": qa.height,
        "n_aligned": aligned.height,
        "aligned_fraction": aligned.height / qa.height if qa.height else 0.0,
        "not_aligned": dict(zip(reasons["reason"].to_list(), reasons["len"].to_list())),
        "not_aligned_utt_ids": qa.filter(~pl.col("aligned"))["utt_id"].to_list(),
        "causes": dict(zip(causes["cause"].to_list(), causes["len"].to_list())),
        "n_partly_unknown": int(qa["partly_unknown"].sum()),
        "partly_unknown_utt_ids": qa.filter(pl.col("partly_unknown"))["utt_id"].to_list(),
        "n_oov_types": oov.height,
        "n_oov_tokens": int(oov["count"].sum()) if oov.height else 0,
        "mean_phones_per_s": float(aligned["phones_per_s"].mean()) if aligned.height else None,
        "max_abs_end_mismatch_s": float(mismatch.max()) if aligned.height else None,
    }


def write_session_outputs(result: SessionAlignment, intervals_path, qa_path, oov_path, summary_path) -> None:
    for path in (intervals_path, qa_path, oov_path, summary_path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    result.intervals.write_parquet(intervals_path)
    result.qa.write_parquet(qa_path)
    result.oov.write_parquet(oov_path)
    Path(summary_path).write_text(json.dumps(result.summary, indent=2) + "\n")
    summary = result.summary
    log.info(
        "%s: %d/%d utterances aligned (%.1f %%), not aligned by reason %s, %d OOV types, "
        "mean %.2f phones/s, max |end mismatch| %s s",
        summary["session"], summary["n_aligned"], summary["n_utterances"], 100 * summary["aligned_fraction"],
        summary["not_aligned"], summary["n_oov_types"], summary["mean_phones_per_s"] or math.nan,
        summary["max_abs_end_mismatch_s"],
    )
    if summary["not_aligned_utt_ids"]:
        log.warning("%s: not aligned (kept out of the attention statistics): %s",
                    summary["session"], ", ".join(summary["not_aligned_utt_ids"]))
    if summary["causes"]:
        log.warning("%s: causes stated by the aligner: %s", summary["session"], summary["causes"])
    if summary["partly_unknown_utt_ids"]:
        log.warning("%s: %d aligned utterance(s) are partly spn/OOV (words the aligner could not pronounce; "
                    "QA column partly_unknown): %s", summary["session"], summary["n_partly_unknown"],
                    ", ".join(summary["partly_unknown_utt_ids"]))


def align_from_textgrids(
    session: str,
    manifest: pl.DataFrame,
    textgrid_dir: str | Path,
    on_bad_input: str = "fail",
    fbank: FbankOptions = FbankOptions.defaults(),
) -> SessionAlignment:
    """The ``textgrid`` backend: one session's tables from TextGrids found under ``textgrid_dir``."""
    require_folder(textgrid_dir, "align.textgrid_dir", "the TextGrids (<dir>/<session>/<utt_id>.TextGrid or "
                   "MFA's <dir>/<speaker>/<utt_id>.TextGrid)")
    textgrids = index_textgrids(textgrid_dir, session)
    return build_session_tables(
        session, utterances_from_manifest(manifest), textgrids, on_bad_input=on_bad_input, fbank=fbank
    )

