"""The report's body sections, in page order: the registry.

A section is one module here defining ``SECTION`` (an :class:`emocue.report.blocks.SectionSpec`:
id, title, the files it reads for a config, its parts) plus its name in :data:`SECTION_MODULES`.
The report rule declares :func:`report_files` as its inputs, so a new section's files are rule
inputs with no further edit. Summary (first) and provenance (last) frame the body and read no
files of their own.
"""

from __future__ import annotations

from importlib import import_module

from emocue.report.blocks import SectionSpec

SECTION_MODULES = ("data", "models", "sweep", "fusion", "selection", "attention", "validation")


def body_sections() -> list[SectionSpec]:
    return [import_module(f"{__name__}.{name}").SECTION for name in SECTION_MODULES]


def report_files(config: dict) -> dict[str, list[str]]:
    """Every file the page may read, by input name, relative to the results folder: the union of
    the sections' declarations for the stages this configuration runs (the report rule's input)."""
    files: dict[str, list[str]] = {}
    for spec in body_sections():
        for name, paths in spec.files(config).items():
            if name in files:
                raise ValueError(f"report input {name!r} is declared by two sections")
            files[name] = paths
    return files
