"""Logging set-up shared by rule scripts: everything goes to the rule's `log:` file and stderr.

A rerun of a failed or killed job appends to its log under a new attempt header instead of
overwriting it, so the cause of the first failure is never lost.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from pathlib import Path

ATTEMPT_HEADER = "==== emocue job attempt"


def start_attempt(log_file: str | Path) -> int:
    """Append an attempt header line to ``log_file`` (created if missing); returns the attempt number."""
    path = Path(log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous, ends_a_line = 0, True
    if path.exists() and path.stat().st_size:
        with path.open(errors="replace") as lines:
            previous = sum(line.startswith(ATTEMPT_HEADER) for line in lines)
        with path.open("rb") as file:
            file.seek(-1, os.SEEK_END)
            ends_a_line = file.read() == b"\n"  # a killed attempt may have left half a line
    attempt = previous + 1
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    with path.open("a") as file:
        file.write("" if ends_a_line else "\n")
        file.write(f"{ATTEMPT_HEADER} {attempt} started {stamp} (pid {os.getpid()}, host "
                   f"{socket.gethostname()}) ====\n")
    return attempt


def setup_rule_logging(log_file: str | Path | None, level: int = logging.INFO) -> logging.Logger:
    """Send log records (and uncaught exceptions) to the job's log file (appended, under an attempt
    header) and to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        start_attempt(log_file)
        handlers.append(logging.FileHandler(log_file, mode="a"))
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
