"""Logging set-up shared by rule scripts: everything goes to the rule's `log:` file and stderr."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_rule_logging(log_file: str | Path | None, level: int = logging.INFO) -> logging.Logger:
    """Send log records (and uncaught exceptions) to the job's log file and to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )

    def log_uncaught(exc_type, exc, tb):
        logging.getLogger("emocue").error("job failed", exc_info=(exc_type, exc, tb))

    sys.excepthook = log_uncaught
    return logging.getLogger("emocue")
