"""What a report section is made of: blocks (paragraphs, tables, charts, facts, code), the
section spec a section module registers, and the formatting every section shares."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    import altair as alt

    from emocue.report.inputs import Inputs

log = logging.getLogger("emocue.report")

VEGA_LITE_VERSION = "6.4"  # must match altair's schema (alt.SCHEMA_VERSION) and the inlined bundle
MAX_LISTED_ROWS = 100  # long listings (dropped utterances) show this many rows and say how many more


# ---- blocks: what a section is made of ---------------------------------------------------------
@dataclass(frozen=True)
class Paragraph:
    text: str
    kind: str = "paragraph"


@dataclass(frozen=True)
class Facts:
    """A definition list of (name, value) pairs."""

    items: tuple[tuple[str, str], ...]
    kind: str = "facts"


@dataclass(frozen=True)
class Table:
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str | None = None
    numeric: tuple[bool, ...] = ()  # right-align these columns
    collapsed: bool = False  # long listings go into a <details> element
    kind: str = "table"


@dataclass(frozen=True)
class Chart:
    title: str
    spec: dict
    svg: str
    note: str | None = None
    kind: str = "chart"


@dataclass(frozen=True)
class Code:
    text: str
    caption: str
    kind: str = "code"


@dataclass(frozen=True)
class Html:
    """A fragment another stage's renderer made (it escapes its own text): Table 1, rendered once
    by emocue.table1 for its own file and for this page."""

    fragment: str
    kind: str = "html"


@dataclass(frozen=True)
class Unavailable:
    """A part whose input is missing (``kind`` unavailable) or that the configuration does not make
    (``kind`` not_configured); ``reason`` names the target or the setting that would make it."""

    what: str
    reason: str
    kind: str = "unavailable"


@dataclass
class Section:
    id: str
    title: str
    blocks: list = field(default_factory=list)

    def tables(self) -> int:
        return sum(block.kind == "table" for block in self.blocks)

    def charts(self) -> int:
        return sum(block.kind == "chart" for block in self.blocks)


class MissingInput(Exception):
    """A stage output the report wanted does not exist (yet); becomes an Unavailable block."""

    def __init__(self, path: str | Path, target: str):
        self.path, self.target = str(path), target
        super().__init__(f"{self.path} does not exist — it is built by `snakemake {target}`")


class NotConfigured(Exception):
    """The configuration runs no stage that makes this part's inputs; the message names the
    setting (or target) that would make them. Becomes an Unavailable block."""


class BadInput(ValueError):
    """A stage output exists but does not follow the contract in docs/outputs.md."""


# ---- formatting ---------------------------------------------------------------------------------
def fmt_number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e6:
            return f"{int(value):,}"
        if value != 0 and (abs(value) < 10**-digits or abs(value) >= 1e6):
            return f"{value:.{max(digits - 1, 1)}e}"
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_number(item, digits) for item in value)
    return str(value)


def fmt_pvalue(p: float | None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "—"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def table_from_frame(
    frame: pl.DataFrame,
    caption: str,
    note: str | None = None,
    digits: int = 3,
    max_rows: int | None = None,
    formats: dict[str, Callable[[Any], str]] | None = None,
) -> Table:
    """A Table block from a polars frame; numbers formatted, long frames cut with a note."""
    formats = formats or {}
    shown = frame if max_rows is None else frame.head(max_rows)
    rows = tuple(
        tuple(
            formats.get(name, lambda v: fmt_number(v, digits))(value) for name, value in row.items()
        )
        for row in shown.iter_rows(named=True)
    )
    if max_rows is not None and frame.height > max_rows:
        extra = f"Showing {max_rows} of {frame.height:,} rows."
        note = f"{note} {extra}" if note else extra
    numeric = tuple(
        dtype.is_numeric() and name not in formats for name, dtype in frame.schema.items()
    )
    return Table(
        caption=caption,
        columns=tuple(frame.columns),
        rows=rows,
        note=note,
        numeric=numeric,
        collapsed=max_rows is not None and frame.height > 20,
    )


# ---- charts -------------------------------------------------------------------------------------
def without_xml_declaration(svg: str) -> str:
    """An SVG document as an element to inline in the page."""
    return re.sub(r"^<\?xml[^>]*>\s*", "", svg)


def chart_block(chart: alt.TopLevelMixin | dict, title: str, note: str | None = None) -> Chart:
    """A Chart block: the Vega-Lite spec (data inlined) plus its static SVG rendering."""
    import vl_convert

    spec = chart if isinstance(chart, dict) else chart.to_dict()
    svg = vl_convert.vegalite_to_svg(spec, vl_version=VEGA_LITE_VERSION)
    return Chart(title=title, spec=spec, svg=without_xml_declaration(svg), note=note)


def guarded(what: str, build: Callable[[], list]) -> list:
    """Blocks from ``build``, or one Unavailable block saying what is missing and what makes it."""
    try:
        return build()
    except MissingInput as error:
        log.info("report: %s not available: %s", what, error)
        return [Unavailable(what=what, reason=str(error))]
    except NotConfigured as error:
        log.info("report: %s not configured: %s", what, error)
        return [Unavailable(what=what, reason=str(error), kind="not_configured")]


Builder = Callable[["Inputs", dict], list]
Files = dict[str, list[str]]  # declared input files by name, paths relative to the results folder


@dataclass(frozen=True)
class SectionSpec:
    """One body section of the page, registered in :data:`emocue.report.sections.SECTION_MODULES`.

    ``files(config)`` lists every file its parts may read (relative to the results folder) for the
    configured stages only: the report rule declares their union, and :class:`Inputs` refuses any
    other file. ``parts`` are (what, builder) pairs; a builder raising MissingInput or NotConfigured
    becomes an Unavailable block. ``intro`` is formatted with the config.
    """

    id: str
    title: str
    files: Callable[[dict], Files]
    parts: tuple[tuple[str, Builder], ...]
    intro: str | None = None

    def build(self, inputs: Inputs, config: dict) -> Section:
        intro = self.intro.format(**config) if self.intro else None
        section = Section(self.id, self.title, [Paragraph(intro)] if intro else [])
        for what, build in self.parts:
            section.blocks += guarded(what, lambda build=build: build(inputs, config))
        return section
