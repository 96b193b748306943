"""Building the page: every registered section from exactly the declared inputs, then rendering."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from emocue.report import changes
from emocue.report.blocks import Section
from emocue.report.inputs import Inputs
from emocue.report.render import render_html
from emocue.report.sections import body_sections, report_files
from emocue.report.sections.provenance import provenance_section
from emocue.report.sections.summary import summary_section

log = logging.getLogger("emocue.report")


@dataclass
class Report:
    sections: list[Section]
    html: str
    checksums: dict[str, str]

    @property
    def n_tables(self) -> int:
        return sum(section.tables() for section in self.sections)

    @property
    def n_charts(self) -> int:
        return sum(section.charts() for section in self.sections)


def build_report(
    results_dir: str | Path,
    config: dict,
    previous: dict | None = None,
    workflow_dir: str | Path | None = None,
) -> Report:
    """Read the inputs the configuration declares (:func:`report_files`) and render the page.

    The page depends only on the inputs, the configuration, ``previous`` (the last report's
    sidecar) and the software: no clock, no set order, no unordered group_by.
    """
    inputs = Inputs(results_dir, report_files(config))
    workflow_dir = Path(workflow_dir) if workflow_dir else Path(__file__).resolve().parents[3]
    body = [spec.build(inputs, config) for spec in body_sections()]
    summary = summary_section(inputs, config, previous)
    checksums = dict(sorted(inputs.checksums.items()))
    state = changes.inputs_digest(changes.config_digest(config), checksums)
    sections = [summary, *body, provenance_section(config, workflow_dir, state)]
    title = config.get("report", {}).get("title", "emocue report")
    html = render_html(sections, title, state=state)
    return Report(sections=sections, html=html, checksums=checksums)


def write_report(
    results_dir: str | Path,
    config: dict,
    output: str | Path,
    workflow_dir: str | Path | None = None,
) -> Report:
    """Build the report, write it and its checksum sidecar (read first: the previous state)."""
    output = Path(output)
    sidecar = changes.sidecar_path(output)
    report = build_report(
        results_dir, config, previous=changes.read_sidecar(sidecar), workflow_dir=workflow_dir
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report.html, encoding="utf-8")
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    changes.write_sidecar(sidecar, date, changes.config_digest(config), report.checksums)
    log.info(
        "report: %s (%.1f MB, %d tables, %d charts)",
        output,
        output.stat().st_size / 1e6,
        report.n_tables,
        report.n_charts,
    )
    return report
