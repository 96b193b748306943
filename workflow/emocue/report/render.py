"""Rendering the page: jinja2 with autoescaping on (transcripts and ids are data, never markup).

Charts are altair/Vega-Lite specs embedded as JSON and drawn by the vega / vega-lite / vega-embed
bundle that ``vl_convert.javascript_bundle`` produces, inlined **once**; every chart also carries a
static SVG rendered by vl-convert, shown until the live chart replaces it (JavaScript off, or a
failed embed).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from emocue.report.blocks import VEGA_LITE_VERSION, Section

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates"
TEMPLATE_NAME = "report.html.j2"
# The pass-through script that draws every chart once the bundle has defined `vegaEmbed`.
EMBED_SNIPPET = """
window.vegaEmbed = vegaEmbed;
for (const figure of document.querySelectorAll("figure.chart")) {
  const spec = JSON.parse(document.getElementById(figure.dataset.spec).textContent);
  const live = figure.querySelector(".chart-live");
  vegaEmbed(live, spec, {renderer: "svg", actions: false})
    .then(() => { figure.querySelector(".chart-fallback")?.remove(); figure.classList.add("live"); })
    .catch((error) => { live.remove(); console.warn("chart kept its static fallback:", error); });
}
// Printing shows every collapsed listing.
window.addEventListener("beforeprint", () => document.querySelectorAll("details").forEach((d) => { d.open = true; }));
"""


def prefix_svg_ids(svg: str, prefix: str) -> str:
    """Element ids (clip paths, gradients) renamed ``<prefix><n>`` in order of appearance: unique
    when several SVGs share one page, and independent of vl-convert's process-wide id counter
    (which numbers a chart's gradients differently on each build)."""
    names = dict.fromkeys(re.findall(r'\bid="([^"]+)"', svg))
    renamed = {name: f"{prefix}{index}" for index, name in enumerate(names)}
    reference = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')
    return reference.sub(
        lambda match: match.group(1) + renamed.get(match.group(2), match.group(2)), svg
    )


@cache
def javascript_bundle() -> str:
    """vega + vega-lite + vega-embed and the chart-drawing snippet, as one ES module."""
    import vl_convert

    bundle = vl_convert.javascript_bundle(EMBED_SNIPPET, vl_version=VEGA_LITE_VERSION)
    # The bundle is inlined in a <script>; make sure no string in it can close that element.
    return re.sub(r"</(script)", r"<\\/\1", bundle, flags=re.IGNORECASE)


def render_html(sections: list[Section], title: str, state: str) -> str:
    import jinja2
    from markupsafe import Markup

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    charts = [block for section in sections for block in section.blocks if block.kind == "chart"]
    # vl-convert's SVG escapes its text; ids are prefixed so several SVGs can share the page.
    views = {
        id(chart): (index, Markup(prefix_svg_ids(chart.svg, f"c{index}-")))
        for index, chart in enumerate(charts)
    }
    environment.globals["chart_view"] = lambda chart: views[id(chart)]
    return environment.get_template(TEMPLATE_NAME).render(
        title=title,
        state=state,
        sections=sections,
        bundle=Markup(javascript_bundle()) if charts else None,
        n_tables=sum(section.tables() for section in sections),
        n_charts=len(charts),
    )
