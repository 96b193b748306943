"""Identifiers that become file names: the safe character set, its check and the one path builder.

utt_id, speaker and session values come from the corpus (IEMOCAP file names, a user's manifest,
EmoDB file names) and end up in paths: ``results/corpus/<session>.parquet``, MFA staging
``<speaker>/<utt_id>.lab``, symlinks. A value such as ``../../evil`` would write outside its folder
and ``a/b`` would crash, so every such value is checked when the corpus is read
(:func:`check_identifier`, bad input naming the row), and every path built from one goes through
:func:`child_path`, which refuses to leave its folder whatever it is given.

The safe set (README "Bad input"): ASCII letters, digits and ``_ - . +``; the first character is a
letter, digit or ``_`` (no hidden ``.x`` files, nothing that reads as a command-line option);
no ``..``; at most 128 characters. Path separators, control characters, spaces and other
punctuation are refused, each with its own reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MAX_IDENTIFIER_LENGTH = 128  # with a suffix such as `.TextGrid`, well under a file system's 255 bytes
SAFE_PUNCTUATION = "_-.+"
SAFE_CHARACTERS = f"ASCII letters, digits and {' '.join(SAFE_PUNCTUATION)}"
_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
_SEPARATORS = {"/", "\\", os.sep, os.altsep} - {None}


class UnsafePathError(ValueError):
    """A path part that would leave its folder, or is not a single file name."""


def check_identifier(value: object) -> str | None:
    """Why `value` cannot be an utt_id/speaker/session (one short reason), or None when it is safe."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "is empty"
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not text"
    separators = sorted(separator for separator in _SEPARATORS if separator in value)
    if separators:
        return f"contains a path separator {' '.join(map(repr, separators))}"
    if ".." in value:
        return "contains '..'"
    control = next((character for character in value if ord(character) < 32 or ord(character) == 127), None)
    if control is not None:
        return f"contains a control character (U+{ord(control):04X})"
    if len(value) > MAX_IDENTIFIER_LENGTH:
        return f"is {len(value)} characters long (at most {MAX_IDENTIFIER_LENGTH})"
    if not _SAFE.match(value):
        unsafe = sorted({character for character in value if not re.match(r"[A-Za-z0-9_.+-]", character)})
        if unsafe:
            return f"contains {' '.join(map(repr, unsafe))} (allowed: {SAFE_CHARACTERS})"
        return f"starts with {value[0]!r} (the first character is a letter, digit or _)"
    return None


def child_path(folder: str | Path, *parts: str) -> Path:
    """`folder/part/part…`, refusing any part that is not one plain file name inside `folder`.

    Each part must be non-empty text without a path separator, control character or NUL, and not
    `.` or `..`; the result is also checked to lie lexically inside `folder`.
    """
    path = Path(folder)
    for part in parts:
        reason = _part_problem(part)
        if reason:
            raise UnsafePathError(f"refusing to build a path under {folder} from {part!r}: it {reason}")
        path = path / part
    root = os.path.normpath(os.path.abspath(folder))
    built = os.path.normpath(os.path.abspath(path))
    if os.path.commonpath([root, built]) != root:  # unreachable given the part checks; kept as the guarantee
        raise UnsafePathError(f"refusing {built}: it is outside {root}")
    return path


def _part_problem(part: object) -> str | None:
    if not isinstance(part, str) or not part:
        return "is empty" if part in ("", None) else f"is a {type(part).__name__}, not text"
    if part in (".", ".."):
        return f"is {part!r}"
    if any(separator in part for separator in _SEPARATORS):
        return "contains a path separator"
    if any(ord(character) < 32 or ord(character) == 127 for character in part):
        return "contains a control character"
    return None
