"""CSV/TSV manifests: one row per utterance (utt_id, path, speaker, session, label[, transcript,
gender]). Read whole once when the workflow is planned (cheap), checked across sessions, and split
into one rows file per session, so that editing a row reruns only its own session."""

from __future__ import annotations

import csv
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from emocue.corpus.checks import duplicate_ids_message, missing_sessions_message, unmapped_session_message
from emocue.corpus.records import Candidate, CorpusError

log = logging.getLogger(__name__)

MANIFEST_REQUIRED_COLUMNS = ("utt_id", "path", "speaker", "session", "label")
MANIFEST_OPTIONAL_COLUMNS = ("transcript", "gender")


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


def _session_rows(table: pl.DataFrame, session: str) -> pl.DataFrame:
    return table.filter(pl.col("session") == session)


def manifest_session_audio(corpus: dict[str, Any], session: str) -> list[str]:
    """The existing audio files of the session's rows (missing ones are reported by the corpus job)."""
    root = Path(corpus["root"])
    paths = _session_rows(read_manifest_table(corpus["manifest"]), session)["path"].drop_nulls().to_list()
    return [str(path) for path in (manifest_audio_path(root, p.strip()) for p in paths) if path.is_file()]


def check_manifest(corpus: dict[str, Any]) -> None:
    """Stop on what no single session's job can see: configured sessions without rows, ids shared
    by two sessions, and sessions whose every label misses corpus.label_map."""
    table = read_manifest_table(corpus["manifest"])
    sessions = [str(session) for session in corpus["sessions"]]
    source = f"corpus.manifest {corpus['manifest']}"
    used = table.filter(pl.col("session").is_in(sessions)).with_columns(
        pl.col("utt_id", "label").str.strip_chars())  # as the reader strips them
    labels = {session: _session_rows(used, session)["label"].drop_nulls().to_list() for session in sessions}
    problems = [
        missing_sessions_message(sessions, set(table["session"].to_list()), source),
        duplicate_ids_message(used, source),
        *(unmapped_session_message(session, labels[session], corpus["label_map"]) for session in sessions),
    ]
    problems = [problem for problem in problems if problem]
    if problems:
        raise CorpusError("\n".join(problems))


def session_rows_tsv(table: pl.DataFrame, session: str) -> str:
    """The session's rows as TSV, with only the columns a reader uses (so an added note column, or
    an edit in another session, leaves this text unchanged)."""
    columns = [c for c in (*MANIFEST_REQUIRED_COLUMNS, *MANIFEST_OPTIONAL_COLUMNS) if c in table.columns]
    return _session_rows(table, session).select(columns).write_csv(separator="\t")


def write_session_rows(corpus: dict[str, Any], session: str, path: str | Path) -> bool:
    """Write the session's rows to `path` only if they changed (True when written): its mtime then
    changes exactly when the session's rows do, and Snakemake reruns that session only."""
    text = session_rows_tsv(read_manifest_table(corpus["manifest"]), session)
    path = Path(path)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")  # same folder: the rename is atomic
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return True


def read_manifest_session(manifest: str | Path, root: Path, session: str) -> list[Candidate]:
    """Candidates of the rows of `manifest` (the whole manifest or the session's rows file) whose
    `session` column equals `session`."""
    table = read_manifest_table(manifest)
    rows = _session_rows(table, session)
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
            candidate.problems.append("utt_id is empty")
        elif utt_id in seen:
            candidate.problems.append("duplicate utt_id")
        seen.add(utt_id or "")
        if candidate.speaker is None:
            candidate.problems.append("speaker is empty")
        if has_transcripts and candidate.transcript is None:
            candidate.problems.append("missing transcript")
        candidates.append(candidate)
    return candidates
