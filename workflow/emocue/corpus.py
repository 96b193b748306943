"""Corpus readers: IEMOCAP layout (also the generated demo corpus) and CSV/TSV manifests.

Every reader yields the same per-session **utterance manifest** (columns in ``docs/outputs.md``)
and a ``dropped`` table. Labels outside ``corpus.label_map`` are always dropped and counted; bad
input (missing/unreadable/empty/too short audio, missing transcript, malformed ids or label lines,
duplicate ids) fails the job with one message listing every bad item, or with
``on_bad_input: skip`` is dropped with its reason. Audio that is not 16 kHz mono is *not* bad: its
rate and channel count are recorded and the features stage resamples and mixes down.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import soundfile as sf

log = logging.getLogger(__name__)

MANIFEST_SCHEMA = {
    "utt_id": pl.String,
    "corpus": pl.String,
    "session": pl.String,
    "speaker": pl.String,
    "gender": pl.String,
    "raw_label": pl.String,
    "label": pl.String,
    "transcript": pl.String,
    "audio_path": pl.String,
    "duration_s": pl.Float64,
    "sample_rate": pl.Int32,
    "num_channels": pl.Int32,
    "start_s": pl.Float64,
    "end_s": pl.Float64,
}
DROPPED_SCHEMA = {
    "utt_id": pl.String,
    "session": pl.String,
    "stage": pl.String,
    "reason": pl.String,
    "path": pl.String,
}
MANIFEST_REQUIRED_COLUMNS = ("utt_id", "path", "speaker", "session", "label")
MANIFEST_OPTIONAL_COLUMNS = ("transcript", "gender")

# `[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`
EVALUATION_LINE = re.compile(r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\s+(\S+)\s+(\S+)\s+\[")
# `Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.`
TRANSCRIPT_LINE = re.compile(r"^(\S+)\s+\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]:\s?(.*)$")
# Session number from the dialog prefix, speaker gender from the letter of the *last* id part:
# in `Ses01M_script01_1_F012` the male actor wears the markers but the female one speaks.
IEMOCAP_UTT_ID = re.compile(r"^Ses(\d+)[FM]_.+_([FM])\d+$")


class CorpusError(ValueError):
    """A problem with the corpus as configured (missing folder, manifest columns); names the key."""


class BadInputError(RuntimeError):
    """Bad input files with ``on_bad_input: fail``; the message lists every one with its reason."""


@dataclass
class Candidate:
    """One utterance as a reader found it, before its label and audio are checked."""

    utt_id: str | None
    raw_label: str | None
    audio_path: str
    speaker: str | None = None
    gender: str | None = None
    transcript: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    problems: list[str] = field(default_factory=list)  # found while parsing (bad input)


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    num_channels: int


# ---- IEMOCAP layout -----------------------------------------------------------------------------


def _visible_files(folder: Path, suffix: str) -> list[Path]:
    """Files of `folder` ending in `suffix`, skipping hidden ones (IEMOCAP copies hold `._*` files)."""
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return sorted(
            Path(entry.path)
            for entry in entries
            if entry.name.endswith(suffix) and not entry.name.startswith(".") and entry.is_file()
        )


def _visible_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))


def _iemocap_wavs(wav_root: Path) -> list[Path]:
    """The sentence wavs under `<session>/sentences/wav/<dialog>/`."""
    return [wav for dialog in _visible_dirs(wav_root) for wav in _visible_files(dialog, ".wav")]


def iemocap_session_files(session_dir: Path) -> list[Path]:
    """The wavs, EmoEvaluation and transcription files of one IEMOCAP session folder."""
    wavs = _iemocap_wavs(session_dir / "sentences" / "wav")
    evaluations = _visible_files(session_dir / "dialog" / "EmoEvaluation", ".txt")
    transcripts = _visible_files(session_dir / "dialog" / "transcriptions", ".txt")
    return evaluations + transcripts + wavs


def iemocap_speaker(utt_id: str) -> tuple[str, str] | None:
    """(speaker, gender) of an IEMOCAP utterance id, e.g. `Ses01M_script01_1_F012` -> (`Ses01F`, `F`)."""
    match = IEMOCAP_UTT_ID.match(utt_id)
    if not match:
        return None
    session_number, gender = match.groups()
    return f"Ses{session_number}{gender}", gender


def parse_transcripts(path: Path) -> dict[str, str]:
    """utt_id -> text of one transcription file; lines of non-utterances (ids with XX) are skipped."""
    texts = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = TRANSCRIPT_LINE.match(line.strip())
        if match and "XX" not in match.group(1):
            texts[match.group(1)] = match.group(4).strip()
    return texts


def parse_evaluation(path: Path) -> Iterator[tuple[int, str, re.Match | None]]:
    """(line number, line, match) of each utterance line in an EmoEvaluation file.

    Header (`%`), annotator (`C-E1:`, `A-F1:` …) and blank lines are skipped; a line that starts
    like an utterance line (`[`) but does not parse is yielded with match None.
    """
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.startswith("["):
            yield number, line, EVALUATION_LINE.match(line)


def iemocap_session_dir(root: Path, session: str) -> Path:
    session_dir = root / session
    if not session_dir.is_dir():
        raise CorpusError(
            f"corpus.root: no session folder {session_dir} (expected the IEMOCAP_full_release layout "
            f"`<root>/{session}/dialog/EmoEvaluation`); fix corpus.root or corpus.sessions"
        )
    return session_dir


def read_iemocap_session(root: Path, session: str) -> list[Candidate]:
    """Candidates of one session of an IEMOCAP_full_release tree (`root/<session>/...`)."""
    session_dir = iemocap_session_dir(root, session)
    wav_root = session_dir / "sentences" / "wav"
    transcript_dir = session_dir / "dialog" / "transcriptions"
    candidates: list[Candidate] = []
    seen: dict[str, str] = {}
    for evaluation in _visible_files(session_dir / "dialog" / "EmoEvaluation", ".txt"):
        transcript_file = transcript_dir / evaluation.name
        transcripts = parse_transcripts(transcript_file) if transcript_file.is_file() else {}
        for number, line, match in parse_evaluation(evaluation):
            where = f"{evaluation}:{number}"
            if match is None:
                candidates.append(Candidate(None, None, str(evaluation),
                                            problems=[f"unparseable EmoEvaluation line {where}: {line!r}"]))
                continue
            start, end, utt_id, raw_label = match.groups()
            dialog = utt_id.rsplit("_", 1)[0]
            candidate = Candidate(utt_id, raw_label, str(wav_root / dialog / f"{utt_id}.wav"),
                                  transcript=transcripts.get(utt_id) or None,
                                  start_s=float(start), end_s=float(end))
            identity = iemocap_speaker(utt_id)
            if identity is None:
                candidate.problems.append(
                    f"utterance id does not follow the IEMOCAP pattern SesNN[FM]_<dialog>_[FM]NNN ({where})")
            else:
                candidate.speaker, candidate.gender = identity
            if candidate.transcript is None:
                candidate.problems.append(
                    "missing transcript" + ("" if transcript_file.is_file() else f" (no file {transcript_file})"))
            if utt_id in seen:
                candidate.problems.append(f"duplicate utt_id (first at {seen[utt_id]})")
            seen.setdefault(utt_id, where)
            candidates.append(candidate)
    _report_unlabelled_wavs(wav_root, seen, session)
    return candidates


def _report_unlabelled_wavs(wav_root: Path, labelled: dict[str, str], session: str) -> None:
    unlabelled = [wav.name for wav in _iemocap_wavs(wav_root) if wav.stem not in labelled]
    if unlabelled:  # IEMOCAP labels every sentence wav; extra files are listed, not used
        log.warning("%s: %d wav file(s) have no EmoEvaluation line and are not used: %s",
                    session, len(unlabelled), ", ".join(unlabelled[:20]) + (" …" if len(unlabelled) > 20 else ""))


# ---- manifest (CSV/TSV) -------------------------------------------------------------------------


def manifest_separator(path: Path) -> str:
    """`,` for .csv, TAB for .tsv/.tab, otherwise sniffed from the first lines."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return ","
    if suffix in (".tsv", ".tab"):
        return "\t"
    with open(path, newline="", encoding="utf-8") as handle:
        sample = handle.read(8192)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;").delimiter
    except csv.Error as error:
        raise CorpusError(f"corpus.manifest: cannot tell the column separator of {path} ({error}); "
                          "name it .csv or .tsv") from error


@lru_cache(maxsize=4)
def _read_manifest_table(path: str, mtime_ns: int) -> pl.DataFrame:
    del mtime_ns  # part of the cache key only: an edited manifest is read again
    try:
        table = pl.read_csv(path, separator=manifest_separator(Path(path)), infer_schema=False)
    except pl.exceptions.PolarsError as error:
        raise CorpusError(f"corpus.manifest: cannot read {path} as CSV/TSV: {error}") from error
    missing = [column for column in MANIFEST_REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise CorpusError(f"corpus.manifest: {path} lacks column(s) {missing}; required: "
                          f"{list(MANIFEST_REQUIRED_COLUMNS)}, optional: {list(MANIFEST_OPTIONAL_COLUMNS)}")
    return table


def read_manifest_table(path: str | Path) -> pl.DataFrame:
    """The manifest as strings (cached while the file is unchanged)."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus.manifest: file {path} not found")
    return _read_manifest_table(str(path), path.stat().st_mtime_ns)


def manifest_audio_path(root: Path, path: str) -> Path:
    return Path(path) if os.path.isabs(path) else root / path


def read_manifest_session(manifest: str | Path, root: Path, session: str) -> list[Candidate]:
    """Candidates of the manifest rows whose `session` column equals `session`."""
    table = read_manifest_table(manifest)
    rows = table.filter(pl.col("session") == session)
    if rows.is_empty():
        log.warning("%s: the manifest %s has no rows for this session", session, manifest)
    has_transcripts = "transcript" in table.columns
    if not has_transcripts:
        log.warning("%s: the manifest has no transcript column; alignment will mark every utterance "
                    "'no transcript'", session)
    candidates = []
    seen: set[str] = set()
    for row in rows.iter_rows(named=True):
        utt_id = (row["utt_id"] or "").strip() or None
        gender = (row.get("gender") or "").strip().upper() or None
        candidate = Candidate(
            utt_id, (row["label"] or "").strip(),
            str(manifest_audio_path(root, (row["path"] or "").strip())),
            speaker=(row["speaker"] or "").strip() or None, gender=gender,
            transcript=(row.get("transcript") or "").strip() or None,
        )
        if utt_id is None:
            candidate.problems.append("empty utt_id")
        elif utt_id in seen:
            candidate.problems.append("duplicate utt_id")
        seen.add(utt_id or "")
        if candidate.speaker is None:
            candidate.problems.append("empty speaker")
        if has_transcripts and candidate.transcript is None:
            candidate.problems.append("missing transcript")
        candidates.append(candidate)
    return candidates


# ---- shared checks ------------------------------------------------------------------------------


def probe_audio(path: str, min_duration_s: float) -> tuple[AudioInfo | None, str | None]:
    """Read the whole file once (catches truncated/corrupt data): its info, or the reason it is bad."""
    if not os.path.isfile(path):
        return None, "missing audio file"
    try:
        samples, sample_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as error:
        return None, f"unreadable audio: {error}"
    num_frames, num_channels = samples.shape
    if num_frames == 0:
        return None, "zero-length audio"
    if not np.isfinite(samples).all():
        return None, "unreadable audio: non-finite samples (NaN/inf)"
    duration_s = num_frames / sample_rate
    if duration_s < min_duration_s:
        return None, f"audio too short for one feature frame ({duration_s * 1000:.1f} ms < {min_duration_s * 1000:g} ms)"
    return AudioInfo(duration_s, int(sample_rate), int(num_channels)), None


def session_candidates(corpus: dict[str, Any], session: str) -> list[Candidate]:
    root = Path(corpus["root"])
    if corpus["type"] in ("iemocap", "demo"):
        return read_iemocap_session(root, session)
    return read_manifest_session(corpus["manifest"], root, session)


def session_input_files(config: dict[str, Any], session: str, results: str = "results") -> list[str]:
    """The files the manifest of `session` is built from (Snakemake input; changes re-run it).

    iemocap: the session's wavs, EmoEvaluation and transcription files (a directory scan, no
    parsing). manifest: the manifest and the session's existing audio files. Missing files are
    left out here so the corpus job can report them all at once. demo: the summary
    `<results>/demo/<session>.json` of rule demo_session, which writes the tree as a whole
    (listing the generated files instead would change the input set once they exist, and
    Snakemake would then re-run every session once after the first run).
    """
    corpus = config["corpus"]
    root = Path(corpus["root"])
    if corpus["type"] == "demo":
        return [f"{results}/demo/{session}.json"]
    if corpus["type"] == "iemocap":
        return [str(path) for path in iemocap_session_files(iemocap_session_dir(root, session))]
    table = read_manifest_table(corpus["manifest"])
    paths = table.filter(pl.col("session") == session)["path"].drop_nulls().to_list()
    audio = (manifest_audio_path(root, path.strip()) for path in paths)
    return [str(corpus["manifest"]), *(str(path) for path in audio if path.is_file())]


READER_KEYS = ("type", "root", "manifest", "label_map")


def reader_settings(corpus: dict[str, Any]) -> dict[str, Any]:
    """The part of the `corpus` config a session's manifest depends on (the rule's params: editing
    e.g. `corpus.sessions` or `corpus.classes` must not re-run the existing sessions)."""
    return {key: corpus.get(key) for key in READER_KEYS}


def build_session_manifest(
    corpus: dict[str, Any], session: str, on_bad_input: str = "fail", min_duration_s: float = 0.025
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(manifest, dropped) tables of one session; raises BadInputError on bad input unless skipping.

    `corpus` is the config's `corpus` section; `min_duration_s` is one analysis window (audio
    shorter than that yields no feature frame).
    """
    label_map = corpus["label_map"]
    rows, dropped, bad = [], [], []
    for candidate in session_candidates(corpus, session):
        if candidate.raw_label is not None and candidate.raw_label not in label_map:
            dropped.append(_dropped_row(candidate, session, f"label {candidate.raw_label!r} not in corpus.label_map"))
            continue
        problems = list(candidate.problems)
        info = None
        if candidate.utt_id is not None:
            info, audio_problem = probe_audio(candidate.audio_path, min_duration_s)
            if audio_problem:
                problems.append(audio_problem)
        if problems:
            bad.append(_dropped_row(candidate, session, "; ".join(problems)))
            continue
        rows.append(_manifest_row(candidate, corpus["type"], session, label_map[candidate.raw_label], info))
    if bad and on_bad_input == "fail":
        raise BadInputError(bad_input_message(session, bad))
    manifest = pl.DataFrame(rows, schema=MANIFEST_SCHEMA, orient="row")
    dropped_table = pl.DataFrame(dropped + bad, schema=DROPPED_SCHEMA, orient="row")
    _log_counts(session, manifest, dropped_table)
    return manifest, dropped_table


def _manifest_row(candidate: Candidate, corpus_type: str, session: str, label: str, info: AudioInfo) -> tuple:
    return (candidate.utt_id, corpus_type, session, candidate.speaker, candidate.gender, candidate.raw_label,
            label, candidate.transcript, os.path.abspath(candidate.audio_path), info.duration_s,
            info.sample_rate, info.num_channels, candidate.start_s, candidate.end_s)


def _dropped_row(candidate: Candidate, session: str, reason: str) -> tuple:
    return (candidate.utt_id, session, "corpus", reason, candidate.audio_path)


def bad_input_message(session: str, bad: Iterable[tuple]) -> str:
    bad = list(bad)
    lines = [f"  - {utt_id or '?'}: {reason} [{path}]" for utt_id, _, _, reason, path in bad]
    return (
        f"{session}: {len(bad)} bad input item(s) (on_bad_input: fail):\n" + "\n".join(lines) +
        "\nFix or remove these files, or set `on_bad_input: skip` in the config to leave them out "
        f"(they are then listed in results/corpus/{session}.dropped.parquet)."
    )


def _log_counts(session: str, manifest: pl.DataFrame, dropped: pl.DataFrame) -> None:
    kept = Counter(zip(manifest["raw_label"].to_list(), manifest["label"].to_list()))
    log.info("%s: kept %d utterance(s) (%.1f min): %s", session, manifest.height,
             manifest["duration_s"].sum() / 60,
             ", ".join(f"{raw}->{label} {n}" for (raw, label), n in sorted(kept.items())) or "none")
    for reason, n in sorted(Counter(dropped["reason"].to_list()).items()):
        log.info("%s: dropped %d: %s", session, n, reason)
    if manifest.is_empty():
        log.warning("%s: no utterance kept; check corpus.root, corpus.sessions and corpus.label_map", session)


def write_session_manifest(corpus: dict[str, Any], session: str, on_bad_input: str, min_duration_s: float,
                           manifest_path: str | Path, dropped_path: str | Path) -> None:
    manifest, dropped = build_session_manifest(corpus, session, on_bad_input, min_duration_s)
    for table, path in ((manifest, manifest_path), (dropped, dropped_path)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        table.write_parquet(path)
