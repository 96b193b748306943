"""Reading the report's inputs: exactly the files its rule declares, each read and hashed once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from emocue import layout
from emocue.align import NO_ALIGNMENT_REASON
from emocue.config import fold_names
from emocue.identifiers import child_path
from emocue.report.blocks import BadInput, MissingInput


class UndeclaredInput(RuntimeError):
    """A section read a file its SectionSpec.files does not list: a bug in that section (the report
    rule would not rerun when the file changes, and a stale file could reach the page)."""


class Inputs:
    """Reads the report's declared inputs under a results folder, recording each file's sha256.

    ``files`` maps input names to paths relative to ``results_dir`` (the union of every section's
    ``files(config)``; the report rule declares the same list). A path outside it is refused, so
    nothing reaches the page by globbing ``results/``. A file inside a declared *directory* output
    (the per-utterance charts) is allowed, its name checked by :func:`child_path`.
    Each file is read (and hashed) once; several sections asking for it share the parsed content.
    """

    def __init__(self, results_dir: str | Path, files: dict[str, list[str]]):
        self.results = Path(results_dir)
        self.files = {name: list(paths) for name, paths in files.items()}
        self._declared = {path for paths in self.files.values() for path in paths}
        self.checksums: dict[str, str] = {}
        self._loaded: dict[str, Any] = {}

    def declared(self, name: str) -> list[str]:
        """The declared files of input ``name`` (empty when the config makes none)."""
        return self.files.get(name, [])

    def path(self, relative: str) -> Path:
        return self.results / relative

    def member(self, directory: str, file_name: str) -> str:
        """``directory/file_name`` for a declared directory; ``file_name`` may come from data."""
        if directory not in self._declared:
            raise UndeclaredInput(f"report: {directory} is not a declared input directory")
        return str(child_path(directory, file_name))

    def exists(self, relative: str) -> bool:
        return self.path(self._checked(relative)).is_file()

    def _checked(self, relative: str) -> str:
        if relative not in self._declared and str(Path(relative).parent) not in self._declared:
            raise UndeclaredInput(
                f"report: {relative} is not a declared input; add it to its section's files()"
            )
        return relative

    def remember(self, path: Path) -> None:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        self.checksums[self.display(path)] = digest.hexdigest()

    def display(self, path: Path) -> str:
        return str(Path(self.results.name) / path.relative_to(self.results))

    def _load(self, relative: str, target: str, read: Callable[[Path], Any]) -> Any:
        """``read(path)`` of an existing input; read and checksummed only the first time."""
        if relative not in self._loaded:
            path = self.path(self._checked(relative))
            if not path.is_file():
                raise MissingInput(self.display(path), target)
            self.remember(path)
            self._loaded[relative] = read(path)
        return self._loaded[relative]

    def table(self, relative: str, target: str, columns: Iterable[str] = ()) -> pl.DataFrame:
        frame = self._load(relative, target, pl.read_parquet)
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            raise BadInput(
                f"{self.display(self.path(relative))} lacks columns {missing} "
                f"(has {frame.columns}); see docs/outputs.md for the contract"
            )
        return frame

    def json(self, relative: str, target: str) -> Any:
        return self._load(relative, target, lambda path: json.loads(path.read_text()))

    def text(self, relative: str, target: str) -> str:
        return self._load(relative, target, Path.read_text)

    def tables(
        self, relatives: Iterable[str], target: str, columns: Iterable[str] = ()
    ) -> pl.DataFrame:
        """The concatenation of every existing table; MissingInput only if none exists."""
        relatives, columns = list(relatives), list(columns)
        frames = [self.table(rel, target, columns) for rel in relatives if self.exists(rel)]
        if not frames:
            raise MissingInput(
                self.display(self.path(relatives[0])) if relatives else "results/", target
            )
        return pl.concat(frames, how="diagonal_relaxed")


# ---- training runs ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One training job: model (`blstmatt`, `csa`), context (CSA only), fold, seed."""

    model: str
    context: int | None
    fold: str
    seed: int

    @property
    def system(self) -> str:
        return layout.trained_system(self.model, self.context)

    @property
    def name(self) -> str:
        return f"{self.system} {self.fold} seed {self.seed}"

    def file(self, role: str) -> str:
        """One file of this run's folder (a layout.RUN_FILES role), relative to the results."""
        return layout.run_file(role, self.model, self.fold, self.seed, self.context, root="")


def configured_runs(config: dict) -> list[Run]:
    folds = fold_names(config)
    seeds = [int(seed) for seed in config["train"]["seeds"]]
    runs = [Run("blstmatt", None, fold, seed) for fold in folds for seed in seeds]
    runs += [
        Run("csa", int(context), fold, seed)
        for context in config["csa"]["contexts"]
        for fold in folds
        for seed in seeds
    ]
    return runs


def run_files(config: dict, role: str) -> list[str]:
    """``role`` of every configured run (the files a section declares)."""
    return [run.file(role) for run in configured_runs(config)]


def load_run_metrics(inputs: Inputs, config: dict) -> list[tuple[Run, dict]]:
    found = [
        (run, inputs.json(run.file("metrics"), "train"))
        for run in configured_runs(config)
        if inputs.exists(run.file("metrics"))
    ]
    if not found:
        raise MissingInput("results/train/**/metrics.json", "train")
    return found


def metrics_frame(found: list[tuple[Run, dict]]) -> pl.DataFrame:
    """One row per run: system, fold, seed, wa/ua/macro_f1 with CIs, n_test, left out."""
    rows = []
    for run, metrics in found:
        row = {
            "system": run.system,
            "model": run.model,
            "context": run.context,
            "fold": run.fold,
            "seed": run.seed,
            "n_test": int(metrics.get("n_test", 0)),
        }
        for name in ("wa", "ua", "macro_f1"):
            row[name] = float(metrics[name])
            for bound in ("_ci_low", "_ci_high"):
                value = metrics.get(f"{name}{bound}")
                row[f"{name}{bound}"] = None if value is None else float(value)
        left_out = metrics.get("n_left_out") or {}
        row["n_left_out_test"] = (
            int(left_out.get("test", 0)) if isinstance(left_out, dict) else int(left_out)
        )
        rows.append(row)
    return pl.DataFrame(rows, schema_overrides={"context": pl.Int64})



def not_configured(config: dict, stage: str) -> str | None:
    """Why the configuration runs no ``stage``, naming the setting that would; None when it runs."""
    if stage in ("align", "attention") and config["align"].get("backend") == "none":
        return NO_ALIGNMENT_REASON
    return None
