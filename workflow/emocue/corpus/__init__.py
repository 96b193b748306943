"""Corpus readers: IEMOCAP layout (also the generated demo corpus), EmoDB and CSV/TSV manifests.

Every reader yields the same per-session **utterance manifest** (columns in ``docs/outputs.md``)
and a ``dropped`` table. Labels outside ``corpus.label_map`` and utterances outside
``corpus.subset`` are always dropped and counted; bad input (missing/unreadable/truncated/empty/too
short audio, missing transcript, malformed or unsafe ids, malformed label lines, duplicate ids)
fails the job with one message listing every bad item, or with ``on_bad_input: skip`` is dropped
with its reason. Audio that is not 16 kHz mono is *not* bad: its rate and channel count are
recorded and the features stage resamples and mixes down.

What one session's job cannot see is checked for the whole corpus when the workflow is planned
(:func:`check_corpus`): ids shared by two sessions, configured sessions with no rows, sessions
whose every label misses the label map, speakers in both training and test.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from emocue.corpus.audio import probe_audio
from emocue.corpus.checks import (
    describe_shared_speakers,
    label_near_misses,
    shared_speakers,
    unmapped_session_message,
)
from emocue.corpus.emodb import emodb_session_files, read_emodb_session
from emocue.corpus.iemocap import iemocap_session_dir, iemocap_session_files, iemocap_speaker, read_iemocap_session
from emocue.corpus.manifest import (
    check_manifest,
    manifest_session_audio,
    read_manifest_session,
    read_manifest_table,
    write_session_rows,
)
from emocue.corpus.records import (
    DROPPED_SCHEMA,
    MANIFEST_SCHEMA,
    AudioInfo,
    BadInputError,
    Candidate,
    CorpusError,
)
from emocue.identifiers import check_identifier

__all__ = [
    "DROPPED_SCHEMA", "MANIFEST_SCHEMA", "BadInputError", "CorpusError", "build_session_manifest",
    "check_corpus", "describe_shared_speakers", "iemocap_speaker", "label_near_misses", "probe_audio",
    "reader_settings", "session_files", "shared_speakers", "write_session_manifest", "write_session_rows",
]

log = logging.getLogger(__name__)

READER_KEYS = ("type", "root", "manifest", "label_map", "subset")


def reader_settings(corpus: dict[str, Any]) -> dict[str, Any]:
    """The part of the `corpus` config a session's manifest depends on (the rule's params: editing
    e.g. `corpus.sessions` or `corpus.classes` must not re-run the existing sessions)."""
    return {key: corpus.get(key) for key in READER_KEYS}


def session_candidates(corpus: dict[str, Any], session: str) -> list[Candidate]:
    root = Path(corpus["root"])
    if corpus["type"] in ("iemocap", "demo"):
        return read_iemocap_session(root, session, corpus.get("subset", "all"))
    if corpus["type"] == "emodb":
        return read_emodb_session(root, session)
    return read_manifest_session(corpus["manifest"], root, session)


def session_files(corpus: dict[str, Any], session: str) -> list[str]:
    """The corpus files a session's manifest is read from, found by a directory scan (no parsing):
    iemocap: its wavs, EmoEvaluation and transcription files; emodb: the speaker's wavs;
    manifest: the existing audio files of its rows (its rows file is the caller's). Missing files
    are left out so the corpus job can report them all at once."""
    root = Path(corpus["root"])
    if corpus["type"] in ("iemocap", "demo"):
        return [str(path) for path in iemocap_session_files(iemocap_session_dir(root, session))]
    if corpus["type"] == "emodb":
        return [str(path) for path in emodb_session_files(root, session)]
    return manifest_session_audio(corpus, session)


def check_corpus(corpus: dict[str, Any], test_sessions: Iterable[Iterable[str]]) -> list[str]:
    """Corpus-wide checks run when the workflow is planned, before any job: raises CorpusError
    for what must be fixed; returns warnings (speakers in both training and test, per fold's
    test sessions in `test_sessions`). IEMOCAP and EmoDB ids embed their session and speaker, so
    only a manifest can share ids or speakers across sessions."""
    if corpus["type"] != "manifest":
        return []
    check_manifest(corpus)
    table = read_manifest_table(corpus["manifest"]).filter(pl.col("session").is_in(corpus["sessions"]))
    table = table.with_columns(pl.col("speaker").str.strip_chars())
    warnings = (describe_shared_speakers(shared_speakers(table, list(tests))) for tests in test_sessions)
    return list(dict.fromkeys(warning for warning in warnings if warning))


def _identifier_problems(candidate: Candidate, session: str) -> list[str]:
    """Why the ids that become file names are unsafe (emocue.identifiers). A missing id is the
    reader's to report (a manifest's empty cell; an IEMOCAP/EmoDB name that does not parse)."""
    values = (("utt_id", candidate.utt_id), ("speaker", candidate.speaker), ("session", session))
    return [f"unsafe {name} {value!r}: {reason}" for name, value in values
            if value is not None and (reason := check_identifier(value))]


def build_session_manifest(
    corpus: dict[str, Any], session: str, on_bad_input: str = "fail", min_duration_s: float = 0.025
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(manifest, dropped) tables of one session; raises BadInputError on bad input unless skipping,
    and CorpusError when the session has no utterance or none with a label_map label.

    `corpus` is the config's `corpus` section; `min_duration_s` is one analysis window (audio
    shorter than that yields no feature frame).
    """
    label_map = corpus["label_map"]
    candidates = session_candidates(corpus, session)
    if not candidates:
        raise CorpusError(f"{session}: the corpus has no utterance for this session; "
                          "check corpus.root and corpus.sessions")
    unmapped = unmapped_session_message(session, [c.raw_label for c in candidates if c.raw_label is not None],
                                        label_map)
    if unmapped:
        raise CorpusError(unmapped)
    rows, dropped, bad = [], [], []
    for candidate in candidates:
        if candidate.excluded:
            dropped.append(_dropped_row(candidate, session, candidate.excluded))
            continue
        if candidate.raw_label is not None and candidate.raw_label not in label_map:
            dropped.append(_dropped_row(candidate, session, f"label {candidate.raw_label!r} not in corpus.label_map"))
            continue
        unsafe = _identifier_problems(candidate, session)
        problems = candidate.problems + unsafe
        info = None
        if candidate.utt_id is not None and not unsafe:
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
