"""The HTML report: one self-contained, offline page with every result of the workflow.

The page is built from exactly the files the configured stages produce (:func:`report_files`,
also the report rule's declared input; paths and columns: ``docs/outputs.md``). Each section is a
list of *blocks* (paragraphs, tables, charts, facts, code); an input that is missing, or that the
configuration does not make, becomes an Unavailable block saying which target or setting would make
it, so a partial run still gives a readable report.

Modules: ``inputs`` (reading and hashing declared files), ``blocks`` (block types, formatting, the
section spec), ``sections/`` (one module per section, registered in ``sections.SECTION_MODULES``),
``changes`` (the sidecar: what changed since the last report), ``render`` (jinja2 + charts),
``build`` (the page).
"""

from emocue.report.blocks import BadInput, MissingInput, NotConfigured, Section
from emocue.report.build import Report, build_report, write_report
from emocue.report.changes import sidecar_path
from emocue.report.inputs import Inputs, UndeclaredInput
from emocue.report.sections import report_files

__all__ = [
    "BadInput",
    "Inputs",
    "MissingInput",
    "NotConfigured",
    "Report",
    "Section",
    "UndeclaredInput",
    "build_report",
    "report_files",
    "sidecar_path",
    "write_report",
]
