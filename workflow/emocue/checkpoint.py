"""Training checkpoints: a cache of one run's progress that no kill, full disk or stale file can harm.

- Written atomically (:func:`save_atomically`): a temporary file in the same folder, fsynced, then
  renamed over the old one, so a reader sees the old checkpoint or the new one, never half of one;
  a failed write (e.g. ENOSPC, disk full) leaves the previous checkpoint intact.
- Read back only when its fingerprint matches the run (:func:`read_checkpoint`); a checkpoint that
  cannot be read (truncated, not a torch file) is moved aside to ``<name>.corrupt`` with a WARNING,
  and the run starts from scratch: a checkpoint is a cache, never a reason to fail.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger("emocue.train")

CORRUPT_SUFFIX = ".corrupt"


def fingerprint(*parts: Any) -> str:
    """Hash of everything that must match for a checkpoint to be resumed."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def save_atomically(obj: Any, path: str | Path) -> None:
    """torch.save ``obj`` to ``path`` atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            kept = "the previous version is intact; " if path.exists() else ""
            raise OSError(error.errno, f"could not write {path} ({error.strerror or error}); {kept}"
                          "free disk space or fix the folder's permissions, then rerun") from error
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)


def read_checkpoint(path: str | Path, key: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` when it exists, is readable and belongs to the run ``key``."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(checkpoint, dict) or "fingerprint" not in checkpoint:
            raise ValueError("not an emocue checkpoint (no fingerprint)")
    except Exception as error:  # truncated zip, unpickling error, foreign file: all the same here
        aside = path.with_name(path.name + CORRUPT_SUFFIX)
        os.replace(path, aside)
        log.warning("%s is unreadable (%s: %s); moved it to %s and training from scratch",
                    path, type(error).__name__, str(error).splitlines()[0] if str(error) else "", aside)
        return None
    if checkpoint["fingerprint"] != key:
        log.warning("%s belongs to a run with other settings or data: starting from scratch", path)
        return None
    return checkpoint
