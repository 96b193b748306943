"""Logging set-up shared by rule scripts: everything goes to the rule's `log:` file and stderr.

Snakemake deletes a job's `log:` file before every attempt (``Job.remove_existing_output``), so
a rerun of a failed or killed job would lose the cause of the first failure. Each attempt is
therefore also appended, under its own header line, to the job's attempt history beside the log
(``<name>.log.attempts``: not a file Snakemake manages, and not matched by ``*.log``); the log
itself starts with the attempt header and, from the second attempt on, names that history.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from pathlib import Path

ATTEMPT_HEADER = "==== emocue job attempt"


def attempts_file(log_file: str | Path) -> Path:
    """The attempt history beside a job's log: ``seed1.log`` -> ``seed1.log.attempts``."""
    path = Path(log_file)
    return path.with_name(f"{path.name}.attempts")


def _count_and_end(path: Path) -> tuple[int, bool]:
    """(attempt headers in `path`, whether it ends a line); (0, True) for a missing or empty file."""
    if not path.exists() or not path.stat().st_size:
        return 0, True
    with path.open(errors="replace") as lines:
        headers = sum(line.startswith(ATTEMPT_HEADER) for line in lines)
    with path.open("rb") as file:
        file.seek(-1, os.SEEK_END)
        return headers, file.read() == b"\n"  # a killed attempt may have left half a line


def start_attempt(log_file: str | Path) -> int:
    """Append an attempt header line to ``log_file`` and to its attempt history (both created if
    missing); returns the attempt number, counted in the history (which Snakemake never deletes)."""
    path = Path(log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    history = attempts_file(path)
    previous = max(_count_and_end(history)[0], _count_and_end(path)[0])
    attempt = previous + 1
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    header = f"{ATTEMPT_HEADER} {attempt} started {stamp} (pid {os.getpid()}, host {socket.gethostname()}) ====\n"
    for target in (path, history):
        ends_a_line = _count_and_end(target)[1]
        with target.open("a") as file:
            file.write("" if ends_a_line else "\n")
            file.write(header)
            if target == path and attempt > 1:
                file.write(f"(earlier attempts of this job, with their errors: {history})\n")
    return attempt


def setup_rule_logging(log_file: str | Path | None, level: int = logging.INFO) -> logging.Logger:
    """Send log records (and uncaught exceptions) to the job's log file and its attempt history
    (both appended, under an attempt header) and to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        start_attempt(log_file)
        handlers += [logging.FileHandler(path, mode="a") for path in (log_file, attempts_file(log_file))]
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
