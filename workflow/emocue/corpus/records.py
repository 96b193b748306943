"""What every corpus reader produces: the manifest and dropped table schemas, one candidate
utterance before its checks, and the two errors a reader raises."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

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
    excluded: str | None = None  # left out by the configuration (e.g. corpus.subset): counted, not bad


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    num_channels: int


def visible_files(folder: Path, suffix: str) -> list[Path]:
    """Files of `folder` ending in `suffix`, skipping hidden ones (IEMOCAP copies hold `._*` files)."""
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return sorted(
            Path(entry.path)
            for entry in entries
            if entry.name.endswith(suffix) and not entry.name.startswith(".") and entry.is_file()
        )


def visible_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))
