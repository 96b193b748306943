"""Whole-corpus checks: what one session's job cannot see (ids shared by two sessions, sessions
that match nothing, speakers in both training and test) or should stop on (a session whose every
label misses corpus.label_map). Each returns a message naming what to fix, or nothing."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping

import polars as pl


def missing_sessions_message(configured: Iterable[str], present: Collection[str | None], source: str) -> str | None:
    """corpus.sessions entries with no row in `source`, with the session values it does have."""
    missing = [session for session in configured if session not in present]
    if not missing:
        return None
    values = sorted(repr(value) for value in set(present) if value is not None)
    return (f"corpus.sessions: {missing} match no row of {source}; its session column holds "
            f"{', '.join(values) or 'no values'} (session values are compared as text, exactly)")


def duplicate_ids_message(table: pl.DataFrame, source: str) -> str | None:
    """Every utt_id that occurs in more than one session of `table` (columns utt_id, session).

    Training keys utterances by utt_id across sessions, so one session's features would silently
    replace the other's — a test utterance trained on under a training label.
    """
    shared = (table.filter(pl.col("utt_id").is_not_null())
              .group_by("utt_id", maintain_order=True)
              .agg(pl.col("session").unique(maintain_order=True))
              .filter(pl.col("session").list.len() > 1))
    if shared.is_empty():
        return None
    lines = [f"    {row['utt_id']}: sessions {', '.join(row['session'])}" for row in shared.iter_rows(named=True)]
    return (f"{source}: {shared.height} utt_id(s) occur in more than one session; ids must be unique "
            "across the corpus (give each row its own id):\n" + "\n".join(lines))


def label_near_misses(raw_labels: Iterable[str], label_map: Mapping[str, str]) -> dict[str, str]:
    """raw label -> the label_map key it probably meant (case, whitespace, a typo)."""
    keys = list(label_map)
    folded = {key.strip().casefold(): key for key in keys}
    hints = {}
    for raw in sorted(set(raw_labels)):
        close = difflib.get_close_matches(raw, keys, n=1, cutoff=0.75)
        match = folded.get(raw.strip().casefold()) or (close[0] if close else None)
        if match is not None:
            hints[raw] = match
    return hints


def unmapped_session_message(session: str, raw_labels: Collection[str], label_map: Mapping[str, str]) -> str | None:
    """A message when `session` has labels but none of them is a corpus.label_map key."""
    if not raw_labels or any(raw in label_map for raw in raw_labels):
        return None
    present = sorted(set(raw_labels))
    hints = label_near_misses(present, label_map)
    hint = ("; near misses: " + ", ".join(f"{raw!r} (label_map has {key!r})" for raw, key in hints.items())
            if hints else "")
    return (f"{session}: none of its {len(raw_labels)} label(s) is a corpus.label_map key, so the whole "
            f"session would be dropped. Its labels: {', '.join(map(repr, present[:20]))}; label_map keys: "
            f"{', '.join(map(repr, label_map))}{hint}. Labels are compared exactly (case and spaces "
            "count): fix the labels or corpus.label_map")


def shared_speakers(utterances: pl.DataFrame, test_sessions: Collection[str]) -> pl.DataFrame:
    """Speakers with utterances in both a test session and a training session.

    `utterances` has session and speaker columns (the corpus tables, or a manifest); training
    sessions are all its other sessions. Returns speaker, test_sessions, training_sessions
    (lists, sorted); empty when the split is speaker-independent.
    """
    is_test = pl.col("session").is_in(list(test_sessions))
    sessions = (utterances.filter(pl.col("speaker").is_not_null())
                .group_by("speaker")
                .agg(test_sessions=pl.col("session").filter(is_test).unique().sort(),
                     training_sessions=pl.col("session").filter(~is_test).unique().sort()))
    return (sessions.filter((pl.col("test_sessions").list.len() > 0) & (pl.col("training_sessions").list.len() > 0))
            .sort("speaker"))


def describe_shared_speakers(shared: pl.DataFrame) -> str | None:
    """One sentence for the log and the report (Data section, Table 1 notes); None when none."""
    if shared.is_empty():
        return None
    speakers = "; ".join(
        f"{row['speaker']} (test {', '.join(row['test_sessions'])}; training {', '.join(row['training_sessions'])})"
        for row in shared.iter_rows(named=True))
    return (f"{shared.height} speaker(s) are in both training and test sessions, so results are "
            f"speaker-dependent: {speakers}")
