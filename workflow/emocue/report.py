"""The HTML report: one self-contained, offline page with every result of the workflow.

The page is built from whatever stage outputs exist (paths and columns: ``docs/outputs.md``). Each
section is a list of *blocks* (paragraphs, tables, charts, facts, code); an input that is missing
becomes an :class:`Unavailable` block that says what is missing and which target builds it, so a
partial run still gives a readable report.

Rendering: jinja2 with autoescaping on (transcripts and ids are data, never markup); charts are
altair/Vega-Lite specs embedded as JSON and drawn by the vega / vega-lite / vega-embed bundle that
``vl_convert.javascript_bundle`` produces, inlined **once**; every chart also carries a static SVG
rendered by vl-convert, shown until the live chart replaces it (JavaScript off, or a failed embed).

Beside ``report.html`` the report writes ``report.inputs.json``: the checksum of every input file it
read. It is deliberately *not* a declared Snakemake output (Snakemake deletes outputs before a job
runs), so the next report can say which inputs changed since this one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl
import yaml

from emocue.config import test_sessions

log = logging.getLogger("emocue.report")

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
TEMPLATE_NAME = "report.html.j2"
SIDECAR_SUFFIX = ".inputs.json"
VEGA_LITE_VERSION = "6.4"  # must match altair's schema (alt.SCHEMA_VERSION) and the inlined bundle
TABLE1 = "fusion/table1.parquet"  # the fusion stage's Table 1 (all systems + the paper's values)
MAX_LISTED_ROWS = (
    100  # long listings (dropped utterances) show this many rows and say how many more
)
PACKAGES = (
    "numpy",
    "scipy",
    "polars",
    "pyarrow",
    "torch",
    "torchaudio",
    "altair",
    "vl-convert-python",
    "jinja2",
    "praatio",
    "soundfile",
    "espeakng-loader",
    "pyyaml",
    "snakemake",
)
UA_WA_NOTE = (
    "WA (weighted accuracy) is the overall accuracy over test utterances; UA (unweighted accuracy) "
    "is the mean of the per-class recalls. These are the usual definitions; the paper's Eq. 6 names "
    "them the other way round, so its 'UA' column corresponds to our WA and vice versa."
)
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
class Unavailable:
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


class BadInput(ValueError):
    """A stage output exists but does not follow the contract in docs/outputs.md."""


# ---- reading inputs (and remembering their checksums) --------------------------------------------
class Inputs:
    """Reads stage outputs under a results folder and records the sha256 of every file read.

    Each file is read (and hashed) once; several sections asking for it share the parsed content.
    """

    def __init__(self, results_dir: str | Path):
        self.results = Path(results_dir)
        self.checksums: dict[str, str] = {}
        self._loaded: dict[str, Any] = {}

    def path(self, relative: str) -> Path:
        return self.results / relative

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
            path = self.path(relative)
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

    def glob(self, pattern: str) -> list[str]:
        """Relative paths (sorted) under the results folder matching ``pattern``."""
        return sorted(str(path.relative_to(self.results)) for path in self.results.glob(pattern))

    def tables(
        self, relatives: Iterable[str], target: str, columns: Iterable[str] = ()
    ) -> pl.DataFrame:
        """The concatenation of every existing table; MissingInput only if none exists."""
        relatives, columns = list(relatives), list(columns)
        frames = [self.table(rel, target, columns) for rel in relatives if self.path(rel).is_file()]
        if not frames:
            raise MissingInput(
                self.display(self.path(relatives[0])) if relatives else "results/", target
            )
        return pl.concat(frames, how="diagonal_relaxed")


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


def fmt_percent_ci(value: float, low: float | None, high: float | None) -> str:
    """'61.2 % [58.1, 64.0]' from fractions in [0, 1]."""
    text = f"{100 * value:.1f} %"
    if low is not None and high is not None:
        text += f" [{100 * low:.1f}, {100 * high:.1f}]"
    return text


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
def _prefix_svg_ids(svg: str, prefix: str) -> str:
    """Make element ids (clip paths, gradients) unique when several SVGs share one page."""
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    for name in sorted(ids, key=len, reverse=True):
        svg = svg.replace(f'id="{name}"', f'id="{prefix}{name}"')
        svg = svg.replace(f"url(#{name})", f"url(#{prefix}{name})")
        svg = svg.replace(f'href="#{name}"', f'href="#{prefix}{name}"')
    return svg


def _without_xml_declaration(svg: str) -> str:
    """An SVG document as an element to inline in the page."""
    return re.sub(r"^<\?xml[^>]*>\s*", "", svg)


def chart_block(chart: alt.TopLevelMixin | dict, title: str, note: str | None = None) -> Chart:
    """A Chart block: the Vega-Lite spec (data inlined) plus its static SVG rendering."""
    import vl_convert

    spec = chart if isinstance(chart, dict) else chart.to_dict()
    svg = vl_convert.vegalite_to_svg(spec, vl_version=VEGA_LITE_VERSION)
    return Chart(title=title, spec=spec, svg=_without_xml_declaration(svg), note=note)


def _unavailable_from(what: str, error: Exception) -> Unavailable:
    return Unavailable(what=what, reason=str(error))


def guarded(what: str, build: Callable[[], list]) -> list:
    """Blocks from ``build``, or one Unavailable block naming the missing input."""
    try:
        return build()
    except MissingInput as error:
        log.info("report: %s not available: %s", what, error)
        return [_unavailable_from(what, error)]


Builder = Callable[["Inputs", dict], list]


def assemble(
    section_id: str,
    title: str,
    parts: list[tuple[str, Builder]],
    inputs: Inputs,
    config: dict,
    intro: str | None = None,
) -> Section:
    """A section from its parts; each part that lacks an input becomes an Unavailable block."""
    section = Section(section_id, title, [Paragraph(intro)] if intro else [])
    for what, build in parts:
        section.blocks += guarded(what, lambda build=build: build(inputs, config))
    return section


# ---- run discovery ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One training job: model (`blstmatt`, `csa`), context (CSA only), fold, seed, folder."""

    model: str
    context: int | None
    fold: str
    seed: int
    folder: str

    @property
    def system(self) -> str:
        return "BLSTMATT" if self.model == "blstmatt" else f"CSA C={self.context}"

    @property
    def name(self) -> str:
        return f"{self.system} {self.fold} seed {self.seed}"


def configured_runs(config: dict) -> list[Run]:
    folds = test_sessions(config)
    seeds = [int(seed) for seed in config["train"]["seeds"]]
    runs = [
        Run("blstmatt", None, fold, seed, f"train/blstmatt/{fold}/seed{seed}")
        for fold in folds
        for seed in seeds
    ]
    runs += [
        Run("csa", int(context), fold, seed, f"train/csa/C{context}/{fold}/seed{seed}")
        for context in config["csa"]["contexts"]
        for fold in folds
        for seed in seeds
    ]
    return runs


def load_run_metrics(inputs: Inputs, config: dict) -> list[tuple[Run, dict]]:
    found = [
        (run, inputs.json(f"{run.folder}/metrics.json", "train"))
        for run in configured_runs(config)
        if inputs.path(f"{run.folder}/metrics.json").is_file()
    ]
    if not found:
        raise MissingInput(inputs.display(inputs.path("train")) + "/**/metrics.json", "train")
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


# ---- section 2: data ------------------------------------------------------------------------------
def manifest(inputs: Inputs, config: dict) -> pl.DataFrame:
    sessions = config["corpus"]["sessions"]
    return inputs.tables(
        [f"corpus/{session}.parquet" for session in sessions],
        "corpus",
        ["utt_id", "session", "speaker", "label", "duration_s"],
    )


def _corpus_blocks(inputs: Inputs, config: dict) -> list:
    frame = manifest(inputs, config)
    classes = list(config["corpus"]["classes"])
    counts = (
        frame.group_by("session", "label")
        .agg(pl.len().alias("n"))
        .pivot(on="label", index="session", values="n", aggregate_function="sum")
        .fill_null(0)
    )
    for label in classes:
        if label not in counts.columns:
            counts = counts.with_columns(pl.lit(0, dtype=pl.UInt32).alias(label))
    counts = counts.select("session", *classes).with_columns(total=pl.sum_horizontal(classes))
    order = {session: index for index, session in enumerate(config["corpus"]["sessions"])}
    counts = counts.sort(pl.col("session").replace_strict(order, default=len(order)))
    totals = counts.select(
        pl.lit("all").alias("session"), *[pl.col(c).sum() for c in counts.columns[1:]]
    )
    counts = pl.concat([counts, totals], how="vertical_relaxed")
    durations = (
        frame.group_by("session")
        .agg(
            utterances=pl.len(),
            hours=pl.col("duration_s").sum() / 3600,
            mean_s=pl.col("duration_s").mean(),
            min_s=pl.col("duration_s").min(),
            max_s=pl.col("duration_s").max(),
        )
        .sort(pl.col("session").replace_strict(order, default=len(order)))
    )
    return [
        Paragraph(
            f"{frame.height:,} utterances from {frame['speaker'].n_unique()} speakers in "
            f"{frame['session'].n_unique()} sessions ({config['corpus']['type']} corpus, classes: "
            f"{', '.join(classes)})."
        ),
        table_from_frame(counts, "Utterances per session and class"),
        table_from_frame(durations, "Durations per session (seconds; hours in total)", digits=2),
        chart_block(duration_histogram(frame, classes), "Utterance duration by class"),
    ]


def duration_histogram(frame: pl.DataFrame, classes: list[str], bin_s: float = 0.5) -> alt.Chart:
    """Pre-binned counts (the page carries bins, never one row per utterance)."""
    binned = (
        frame.with_columns(start_s=(pl.col("duration_s") / bin_s).floor() * bin_s)
        .group_by("label", "start_s")
        .agg(pl.len().alias("utterances"))
        .with_columns(end_s=pl.col("start_s") + bin_s)
        .sort("label", "start_s")
    )
    return (
        alt.Chart(binned)
        .mark_bar(opacity=0.8)
        .encode(
            x=alt.X("start_s:Q", title="duration (s)", bin="binned"),
            x2="end_s:Q",
            y=alt.Y("utterances:Q", stack=True),
            color=alt.Color("label:N", scale=alt.Scale(domain=classes), title="class"),
            tooltip=["label", "start_s", "utterances"],
        )
        .properties(width=560, height=220)
    )


def _dropped_blocks(inputs: Inputs, config: dict) -> list:
    relatives = inputs.glob("**/*.dropped.parquet")
    if not relatives:
        return [Paragraph("Nothing was dropped or skipped: no stage wrote a dropped table.")]
    frame = inputs.tables(relatives, "corpus", ["utt_id", "reason"])
    if "stage" not in frame.columns:
        frame = frame.with_columns(stage=pl.lit("?"))
    if "session" not in frame.columns:
        frame = frame.with_columns(session=pl.lit("?"))
    if frame.height == 0:
        return [
            Paragraph(
                f"Nothing was dropped or skipped ({len(relatives)} dropped tables, all empty)."
            )
        ]
    summary = (
        frame.group_by("stage", "reason")
        .agg(items=pl.len(), sessions=pl.col("session").unique().sort().str.join(", "))
        .sort("items", descending=True)
    )
    listing_columns = [
        c for c in ("stage", "session", "utt_id", "reason", "path") if c in frame.columns
    ]
    return [
        Paragraph(f"{frame.height:,} items were dropped or skipped, by stage and reason:"),
        table_from_frame(summary, "Dropped or skipped items by reason"),
        table_from_frame(
            frame.select(listing_columns).sort("stage", "session", "utt_id"),
            "Every dropped item",
            note=f"Full lists: {', '.join('results/' + rel for rel in relatives)}.",
            max_rows=MAX_LISTED_ROWS,
        ),
    ]


def _alignment_blocks(inputs: Inputs, config: dict) -> list:
    sessions = config["corpus"]["sessions"]
    columns = ["utt_id", "aligned", "reason", "n_oov", "phones_per_s", "end_mismatch_s"]
    qa_files = {session: f"align/{session}.qa.parquet" for session in sessions}
    frames = [
        inputs.table(rel, "align", columns).with_columns(session=pl.lit(session))
        for session, rel in qa_files.items()
        if inputs.path(rel).is_file()
    ]
    if not frames:
        raise MissingInput(f"results/{qa_files[sessions[0]]}", "align")
    qa = pl.concat(frames, how="diagonal_relaxed")
    order = {session: index for index, session in enumerate(sessions)}
    per_session = (
        qa.group_by("session")
        .agg(
            utterances=pl.len(),
            aligned=pl.col("aligned").sum(),
            aligned_pct=100 * pl.col("aligned").mean(),
            oov_words=pl.col("n_oov").sum(),
            phones_per_s=pl.col("phones_per_s").mean(),
            mean_abs_end_mismatch_s=pl.col("end_mismatch_s").abs().mean(),
        )
        .sort(pl.col("session").replace_strict(order))
    )
    blocks: list = [
        Paragraph(
            f"{qa['aligned'].sum():,} of {qa.height:,} utterances aligned "
            f"({100 * qa['aligned'].mean():.1f} %); unaligned utterances are left out of the "
            "attention statistics and listed below."
        ),
        table_from_frame(per_session, "Alignment quality per session", digits=2),
    ]
    failed = qa.filter(~pl.col("aligned"))
    if failed.height:
        reasons = (
            failed.group_by("reason").agg(utterances=pl.len()).sort("utterances", descending=True)
        )
        blocks.append(table_from_frame(reasons, "Why utterances were not aligned"))
        blocks.append(
            table_from_frame(
                failed.select("utt_id", "reason").sort("utt_id"),
                "Utterances not aligned",
                max_rows=MAX_LISTED_ROWS,
            )
        )
    oov_files = [
        f"align/{session}.oov.parquet"
        for session in sessions
        if inputs.path(f"align/{session}.oov.parquet").is_file()
    ]
    if oov_files:
        oov = inputs.tables(oov_files, "align", ["word", "count"])
        if oov.height:
            words = (
                oov.group_by("word")
                .agg(pl.col("count").sum())
                .sort("count", "word", descending=[True, False])
            )
            blocks.append(
                table_from_frame(words, "Out-of-vocabulary words", max_rows=MAX_LISTED_ROWS)
            )
        else:
            blocks.append(Paragraph("No out-of-vocabulary words."))
    return blocks


# ---- section 3: models ------------------------------------------------------------------------------
def _table1_blocks(inputs: Inputs, config: dict) -> list:
    if inputs.path(TABLE1).is_file():
        frame = inputs.table(
            TABLE1,
            "fusion",
            ["system", "wa", "wa_ci_low", "wa_ci_high", "ua", "ua_ci_low", "ua_ci_high"],
        )
        notes = [f"CI: {kind}." for kind in _distinct(frame, "ci_kind")]
        notes += [f"Paper columns: {note}." for note in _distinct(frame, "paper_note")]
        caption = "Table 1: ours next to the paper's reported values"
        return [
            table_from_frame(table1_view(frame), caption, note=" ".join(notes) or None),
            Paragraph(UA_WA_NOTE),
        ]
    found = load_run_metrics(inputs, config)
    frame = system_summary(metrics_frame(found))
    return [
        Paragraph(
            f"The combined Table 1 (with the paper's values and SYSComb) comes from the fusion stage "
            f"(results/{TABLE1}), which is not available yet; these are the trained systems alone."
        ),
        table_from_frame(frame, "Table 1 (trained systems, test set)"),
        Paragraph(UA_WA_NOTE),
    ]


def _distinct(frame: pl.DataFrame, column: str) -> list[str]:
    return sorted(set(frame[column].drop_nulls().to_list())) if column in frame.columns else []


def metric_label(name: str) -> str:
    """`val_wa` -> `validation WA`, `ua` -> `UA`."""
    return ("validation " if name.startswith("val_") else "") + name.removeprefix("val_").upper()


def _percent_ci_column(metric: str, label: str) -> pl.Expr:
    return (
        pl.struct(metric, f"{metric}_ci_low", f"{metric}_ci_high")
        .map_elements(
            lambda s: fmt_percent_ci(s[metric], s[f"{metric}_ci_low"], s[f"{metric}_ci_high"]),
            return_dtype=pl.String,
        )
        .alias(label)
    )


METRIC_LABELS = (("wa", "WA [95% CI]"), ("ua", "UA [95% CI]"), ("macro_f1", "macro-F1 [95% CI]"))


def table1_view(frame: pl.DataFrame) -> pl.DataFrame:
    """The fusion stage's Table 1 as displayed: ours with CIs, then the paper's values (%)."""
    system = pl.col("system")
    if "weight" in frame.columns:
        with_weight = pl.format("{} (w = {})", "system", pl.col("weight").round(2))
        system = pl.when(pl.col("weight").is_not_null()).then(with_weight).otherwise("system")
    columns = [system.alias("system")]
    columns += [pl.col(c) for c in ("n_runs", "n_test_mean") if c in frame.columns]
    columns += [
        _percent_ci_column(m, label)
        for m, label in METRIC_LABELS
        if f"{m}_ci_high" in frame.columns
    ]
    columns += [
        pl.col(c).alias(c.replace("paper_", "paper ").replace("wa", "WA %").replace("ua", "UA %"))
        for c in ("paper_wa", "paper_ua")
        if c in frame.columns
    ]
    return frame.select(columns)


def system_summary(frame: pl.DataFrame) -> pl.DataFrame:
    """Per system: WA/UA/macro-F1 as 'value [CI]' (mean over folds and seeds)."""
    grouped = (
        frame.group_by("system", "model", "context")
        .agg(
            runs=pl.len(),
            n_test=pl.col("n_test").sum(),
            **{
                f"{m}{s}": pl.col(f"{m}{s}").mean()
                for m in ("wa", "ua", "macro_f1")
                for s in ("", "_ci_low", "_ci_high")
            },
        )
        .sort(pl.col("model") != "blstmatt", "context")
    )
    return grouped.select(
        "system", "runs", "n_test", *[_percent_ci_column(m, label) for m, label in METRIC_LABELS]
    )


def _history_blocks(inputs: Inputs, config: dict) -> list:
    columns = ["epoch", "train_loss", "val_loss", "val_wa", "val_ua", "lr"]
    frames = []
    for run in configured_runs(config):
        relative = f"{run.folder}/history.parquet"
        if inputs.path(relative).is_file():
            history = inputs.table(relative, "train", columns)
            frames.append(
                history.select(columns).with_columns(
                    system=pl.lit(run.system), run=pl.lit(run.name)
                )
            )
    if not frames:
        raise MissingInput("results/train/**/history.parquet", "train")
    long = pl.concat(frames).unpivot(
        index=["system", "run", "epoch"], variable_name="metric", value_name="value"
    )
    panels = {
        "loss": ["train_loss", "val_loss"],
        "validation accuracy": ["val_wa", "val_ua"],
        "learning rate": ["lr"],
    }
    # One line per run (fold × seed) coloured by system, without per-epoch point marks: at paper
    # scale (12 systems × seeds × 60 epochs) points would dominate the page size.
    charts = [
        alt.Chart(long.filter(pl.col("metric").is_in(names)))
        .mark_line(strokeWidth=1.5, opacity=0.85)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y(
                "value:Q",
                title=panel,
                scale=alt.Scale(zero=False),
                axis=alt.Axis(format=".1e" if panel == "learning rate" else "~g"),
            ),
            color=alt.Color("system:N", title="system"),
            strokeDash=alt.StrokeDash("metric:N", title=None),
            detail="run:N",
            tooltip=["run", "metric", "epoch", alt.Tooltip("value:Q", format=".4g")],
        )
        .properties(width=260, height=180, title=panel)
        for panel, names in panels.items()
    ]
    return [
        chart_block(
            alt.hconcat(*charts).resolve_scale(color="shared", strokeDash="independent"),
            "Training curves per model and seed",
        )
    ]


def _confusion_blocks(inputs: Inputs, config: dict) -> list:
    found = load_run_metrics(inputs, config)
    classes = list(config["corpus"]["classes"])
    rows = []
    for run, metrics in found:
        names = metrics.get("classes") or classes
        for true_index, counts in enumerate(metrics["confusion"]):
            for pred_index, count in enumerate(counts):
                rows.append(
                    {
                        "system": run.system,
                        "true": names[true_index],
                        "pred": names[pred_index],
                        "count": int(count),
                    }
                )
    # rows summed over folds and seeds; recall = each cell's share of its true class
    frame = (
        pl.DataFrame(rows)
        .group_by("system", "true", "pred")
        .agg(pl.col("count").sum())
        .with_columns(recall=pl.col("count") / pl.col("count").sum().over("system", "true"))
    )
    systems = [run.system for run, _ in found]
    base = alt.Chart(frame).encode(
        x=alt.X("pred:N", sort=classes, title="predicted"),
        y=alt.Y("true:N", sort=classes, title="true"),
    )
    heat = base.mark_rect().encode(
        color=alt.Color(
            "recall:Q", scale=alt.Scale(domain=[0, 1], scheme="blues"), title="row share"
        ),
        tooltip=["system", "true", "pred", "count", alt.Tooltip("recall:Q", format=".2f")],
    )
    text = base.mark_text().encode(
        text="count:Q",
        color=alt.condition("datum.recall > 0.5", alt.value("white"), alt.value("black")),
    )
    chart = (
        alt.layer(heat, text, data=frame)
        .properties(width=160, height=160)
        .facet(
            facet=alt.Facet("system:N", sort=list(dict.fromkeys(systems)), title=None), columns=4
        )
    )
    return [chart_block(chart, "Confusion matrices (test set; counts summed over folds and seeds)")]


# ---- section 4: context sweep --------------------------------------------------------------------------
SWEEP = "sweep/sweep.parquet"  # the sweep stage's table: one row per (context, fold, seed)


def sweep_runs(inputs: Inputs, config: dict) -> tuple[pl.DataFrame, str]:
    """Per CSA run: context, WA/UA with CIs, test utterances kept / left out; and the source."""
    if inputs.path(SWEEP).is_file():
        frame = inputs.table(
            SWEEP, "sweep", ["context", "wa", "ua", "n_test_kept", "n_test_left_out"]
        )
        return frame.rename(
            {"n_test_kept": "n_test", "n_test_left_out": "n_left_out_test"}
        ), f"results/{SWEEP}"
    frame = metrics_frame(
        [(run, m) for run, m in load_run_metrics(inputs, config) if run.model == "csa"]
    )
    if frame.height == 0:
        raise MissingInput(f"results/{SWEEP}", "sweep")
    return frame, "the CSA runs' metrics.json (the sweep table is not built yet)"


def _sweep_blocks(inputs: Inputs, config: dict) -> list:
    frame, source = sweep_runs(inputs, config)
    validation = [m for m in ("val_wa", "val_ua") if m in frame.columns]
    per_context = (
        frame.group_by("context")
        .agg(
            runs=pl.len(),
            **{
                f"{m}{s}": pl.col(f"{m}{s}").mean()
                for m in ("wa", "ua")
                for s in ("", "_ci_low", "_ci_high")
            },
            **{m: pl.col(m).mean() for m in validation},
            test_kept=pl.col("n_test").mean(),
            test_left_out=pl.col("n_left_out_test").mean(),
        )
        .sort("context")
    )
    long = pl.concat(
        [
            per_context.select(
                "context",
                value=pl.col(m),
                low=pl.col(f"{m}_ci_low"),
                high=pl.col(f"{m}_ci_high"),
                metric=pl.lit(f"test {m.upper()}"),
            )
            for m in ("wa", "ua")
        ]
        + [
            per_context.select(
                "context",
                value=pl.col(m),
                low=pl.lit(None, pl.Float64),
                high=pl.lit(None, pl.Float64),
                metric=pl.lit(metric_label(m)),
            )
            for m in validation
        ]
    )
    base = alt.Chart(long).encode(
        x=alt.X("context:Q", title="context C (frames)"), color=alt.Color("metric:N", title=None)
    )
    with_ci = base.transform_filter("isValid(datum.low)")
    band = with_ci.mark_area(opacity=0.18).encode(
        y=alt.Y("low:Q", title="accuracy", scale=alt.Scale(zero=False)), y2="high:Q"
    )
    whiskers = with_ci.mark_rule(opacity=0.6).encode(
        y="low:Q", y2="high:Q"
    )  # visible even for one context
    line = base.mark_line(point=True).encode(
        y="value:Q",
        strokeDash=alt.condition(
            "indexof(datum.metric, 'validation') >= 0", alt.value([4, 3]), alt.value([1, 0])
        ),
        tooltip=["metric", "context", alt.Tooltip("value:Q", format=".3f")],
    )
    kept = (
        alt.Chart(
            per_context.unpivot(
                index="context",
                on=["test_kept", "test_left_out"],
                variable_name="test utterances",
                value_name="n",
            )
        )
        .mark_bar()
        .encode(
            x=alt.X("context:O", title="context C (frames)"),
            y=alt.Y("n:Q", title="test utterances", stack=True),
            color=alt.Color("test utterances:N", scale=alt.Scale(range=["#4c78a8", "#e45756"])),
            tooltip=["context", "test utterances", alt.Tooltip("n:Q", format=".0f")],
        )
        .properties(width=560, height=130)
    )
    chart = alt.vconcat(
        (band + whiskers + line).properties(width=560, height=240), kept
    ).resolve_scale(color="independent")
    return [
        chart_block(
            chart,
            "CSA accuracy vs context length (test WA/UA with 95% CI bands; validation dashed)",
            note=f"Mean over folds and seeds; from {source}. Utterances shorter than C frames have no "
            "chunk and are left out of that context's test set (lower panel).",
        ),
        table_from_frame(
            per_context.select(
                "context",
                "runs",
                *[_percent_ci_column(m, label) for m, label in METRIC_LABELS[:2]],
                *[pl.col(m).alias(metric_label(m)) for m in validation],
                "test_kept",
                "test_left_out",
            ),
            "Sweep per context (means over folds and seeds)",
            digits=3,
        ),
    ]


# ---- section 5: fusion -------------------------------------------------------------------------------
FUSION = {
    name: f"fusion/{name}.parquet"
    for name in ("selection", "weight_curve", "significance", "significance_summary")
}


def _fusion_weight_blocks(inputs: Inputs, config: dict) -> list:
    curve = inputs.table(
        FUSION["weight_curve"], "fusion", ["context", "weight", "val_wa", "val_ua"]
    )
    selection = inputs.table(FUSION["selection"], "fusion", ["context", "weight"])
    mean_curve = (
        curve.group_by("context", "weight")
        .agg(pl.col("val_wa").mean(), pl.col("val_ua").mean())
        .unpivot(
            index=["context", "weight"],
            on=["val_wa", "val_ua"],
            variable_name="metric",
            value_name="score",
        )
        .with_columns(
            pl.col("metric").map_elements(metric_label, return_dtype=pl.String),
            context=pl.format("C={}", "context"),
        )
        .sort("context", "metric", "weight")
    )
    chosen = selection.select(pl.format("C={}", "context").alias("context"), "weight").unique()
    paper_weight = float(config["fusion"]["paper_weight"])
    lines = (
        alt.Chart(mean_curve)
        .mark_line()
        .encode(
            x=alt.X("weight:Q", title="fusion weight w"),
            y=alt.Y(
                "score:Q",
                scale=alt.Scale(zero=False),
                title="validation score",
                axis=alt.Axis(format=".2f"),
            ),
            color=alt.Color("context:N", title="CSA context"),
            strokeDash=alt.StrokeDash("metric:N", title=None),
            tooltip=["context", "metric", "weight", alt.Tooltip("score:Q", format=".3f")],
        )
    )
    paper = (
        alt.Chart(
            pl.DataFrame({"weight": [paper_weight], "label": [f"paper w = {paper_weight:g}"]})
        )
        .mark_rule(color="#888", strokeDash=[2, 2])
        .encode(x="weight:Q", tooltip=["label"])
    )
    picked = (
        alt.Chart(chosen)
        .mark_rule(color="#d62728")
        .encode(x="weight:Q", tooltip=["context", "weight"])
    )
    chart = (lines + paper + picked).properties(width=560, height=260)
    wanted = (
        "fold",
        "seed",
        "context",
        "context_source",
        "weight",
        "paper_weight",
        "select_metric",
        "val_csa_score",
        "val_fusion_score",
        "n_test",
        "n_test_fallback",
    )
    columns = [c for c in wanted if c in selection.columns]
    return [
        chart_block(
            chart,
            "Fused validation score vs weight w (red: chosen w; grey dashed: the paper's w)",
            note="Mean over folds and seeds per CSA context.",
        ),
        table_from_frame(
            selection.select(columns),
            "Chosen context and weight per fold and seed",
            note="n_test_fallback: test utterances CSA left out (shorter than C), decided by BLSTMATT alone.",
        ),
    ]


def _significance_blocks(inputs: Inputs, config: dict) -> list:
    runs = inputs.table(
        FUSION["significance"],
        "fusion",
        ["system_a", "system_b", "wa_diff", "ua_diff", "mcnemar_pvalue"],
    )
    rows = []
    for row in runs.iter_rows(named=True):
        rows.append(
            {
                **{key: row[key] for key in ("fold", "seed") if key in row},
                "A": row["system_a"],
                "B": row["system_b"],
                "utterances": row.get("utterances"),
                "n": row.get("n"),
                "WA A−B [95% CI]": _difference(row, "wa"),
                "UA A−B [95% CI]": _difference(row, "ua"),
                "McNemar p": fmt_pvalue(row["mcnemar_pvalue"]),
                "q (BH)": fmt_pvalue(row.get("mcnemar_qvalue", row.get("q_value"))),
            }
        )
    blocks: list = [
        table_from_frame(
            pl.DataFrame(rows),
            "System differences on the same test utterances",
            note="Differences in percentage points with 95% paired-bootstrap CIs; "
            "McNemar's exact test on correct/incorrect decisions.",
        )
    ]
    if inputs.path(FUSION["significance_summary"]).is_file():
        summary = inputs.table(FUSION["significance_summary"], "fusion")
        if summary.height and summary["n_runs"].max() > 1:
            blocks.append(table_from_frame(summary, "Across folds and seeds"))
    return blocks


def _difference(row: dict, metric: str) -> str:
    low, high = row.get(f"{metric}_diff_ci_low"), row.get(f"{metric}_diff_ci_high")
    text = f"{100 * row[f'{metric}_diff']:+.1f}"
    return text + (
        f" [{100 * low:+.1f}, {100 * high:+.1f}]" if low is not None and high is not None else ""
    )


# ---- section 6: attention ------------------------------------------------------------------------------
# The attention stage writes per seed: tables under results/attention/seed<seed>/ and its charts
# (Vega-Lite + SVG) under charts/, including the paper's Figure-1 style per-utterance plots.
ATTENTION_CHARTS = {
    "vowel_consonant": "Vowel vs consonant mean attention per utterance",
    "phone_ranking": "Per-phone mean attention (FDR marks)",
    "position": "Attention vs relative position in the utterance",
    "word_emotion": "Word importance per emotion",
}
TEST_FAMILIES = (
    "vowel_vs_consonant",
    "circular_shift",
    "mass_vs_time_share",
    "vowel_effect_correct_vs_wrong",
    "vowel_effect_across_emotions",
)


def attention_runs(inputs: Inputs) -> dict[str, str]:
    """{seed folder label: folder relative to results} of every attention output folder."""
    folders = {
        str(Path(rel).parent): Path(rel).parent.name
        for rel in inputs.glob("attention/*/tests.parquet")
    }
    if not folders:
        raise MissingInput("results/attention/seed<seed>/tests.parquet", "attention")
    return {label: folder for folder, label in sorted(folders.items())}


def _attention_blocks(inputs: Inputs, config: dict) -> list:
    blocks: list = []
    for label, folder in attention_runs(inputs).items():
        tests = inputs.table(
            f"{folder}/tests.parquet",
            "attention",
            ["test", "variant", "group_type", "group", "pvalue"],
        )
        families = tests.filter(pl.col("test").is_in(TEST_FAMILIES))
        blocks.append(stats_table(families, f"Vowel vs consonant tests ({label})"))
        blocks += _stage_charts(inputs, folder, ATTENTION_CHARTS)
        ranking = inputs.table(
            f"{folder}/phone_ranking.parquet", "attention", ["phone", "mean_attention"]
        )
        blocks.append(
            stats_table(ranking, f"Per-phone ranking ({label}; significant: BH q < alpha)")
        )
        word_tests = tests.filter(pl.col("test") == "word_across_emotions")
        if word_tests.height:
            caption = f"Words compared across emotions (Kruskal–Wallis, {label})"
            blocks.append(stats_table(word_tests, caption))
        words = inputs.table(f"{folder}/word_importance.parquet", "attention", ["word", "emotion"])
        blocks.append(
            table_from_frame(
                words, f"Word importance per emotion ({label})", max_rows=MAX_LISTED_ROWS
            )
        )
        blocks += _utterance_charts(inputs, folder)
        left_out = f"{folder}/left_out.parquet"
        if inputs.path(left_out).is_file():
            frame = inputs.table(left_out, "attention", ["utt_id", "reason"])
            if frame.height:
                blocks.append(
                    table_from_frame(
                        frame.group_by("reason").agg(utterances=pl.len()),
                        f"Test utterances left out of the attention analysis ({label})",
                    )
                )
    return blocks


def stats_table(frame: pl.DataFrame, caption: str) -> Table:
    """A table of test results: p- and q-values in scientific notation when small."""
    formats = {"pvalue": fmt_pvalue, "q_value": fmt_pvalue}
    return table_from_frame(
        frame.drop("name", strict=False), caption, formats=formats, max_rows=MAX_LISTED_ROWS
    )


def _stage_charts(inputs: Inputs, folder: str, titles: dict[str, str]) -> list:
    """A stage's own charts (`charts/<name>.vl.json`, SVG beside it); a missing one is reported."""
    blocks = []
    for name, title in titles.items():
        spec_path = f"{folder}/charts/{name}.vl.json"
        try:
            blocks.append(stage_chart(inputs, spec_path, title, "attention"))
        except MissingInput as error:
            blocks.append(_unavailable_from(title, error))
    return blocks


def stage_chart(inputs: Inputs, spec_path: str, title: str, target: str) -> Chart:
    """A Chart block from a Vega-Lite file a stage wrote (its .svg beside it as the fallback)."""
    spec = inputs.json(spec_path, target)
    svg_path = spec_path.removesuffix(".vl.json") + ".svg"
    if inputs.path(svg_path).is_file():
        return Chart(
            title=title,
            spec=spec,
            svg=_without_xml_declaration(inputs.text(svg_path, target)),
        )
    return chart_block(spec, title)


def _utterance_charts(inputs: Inputs, folder: str) -> list:
    """The paper's Figure 1 for the stage's picked utterances (attention over time with phones/words)."""
    index_path = f"{folder}/charts/utterance_charts.parquet"
    if not inputs.path(index_path).is_file():
        return [
            _unavailable_from(
                "Figure-1 style utterance plots", MissingInput(f"results/{index_path}", "attention")
            )
        ]
    picks = inputs.table(index_path, "attention", ["utt_id", "reason", "group"])
    if "available" in picks.columns:
        picks = picks.filter(pl.col("available"))
    per_utterance = picks.group_by("utt_id", maintain_order=True).agg(
        pl.col("emotion").first() if "emotion" in picks.columns else pl.lit(None).alias("emotion"),
        pl.col("pred").first() if "pred" in picks.columns else pl.lit(None).alias("pred"),
        pl.format("{} ({})", "reason", "group").str.join("; ").alias("why"),
    )
    blocks: list = [
        Paragraph(
            f"Figure-1 style plots of {per_utterance.height} test utterances picked by the attention "
            "stage: the configured ids, the most confident correct utterance per emotion, and "
            "utterances of different emotions that share a word."
        )
    ]
    for row in per_utterance.iter_rows(named=True):
        title = f"{row['utt_id']} — {row['emotion']} (predicted {row['pred']}); picked as {row['why'].replace('_', ' ')}"
        blocks.append(
            stage_chart(
                inputs, f"{folder}/charts/utterances/{row['utt_id']}.vl.json", title, "attention"
            )
        )
    return blocks


# ---- section 7: provenance ---------------------------------------------------------------------------
def provenance_section(
    inputs: Inputs, config: dict, workflow_dir: Path, started: dt.datetime
) -> Section:
    section = Section("provenance", "Provenance")
    section.blocks.append(Facts(tuple(provenance_facts(workflow_dir, started))))
    section.blocks.append(table_from_frame(package_versions(), "Package versions"))
    section.blocks += guarded("Run time per rule", lambda: _benchmark_blocks(inputs))
    section.blocks.append(
        Code(
            yaml.safe_dump(config, sort_keys=False), "Configuration (after validation and defaults)"
        )
    )
    return section


def provenance_facts(workflow_dir: Path, started: dt.datetime) -> list[tuple[str, str]]:
    return [
        ("report date", started.strftime("%Y-%m-%d %H:%M:%S %Z")),
        ("git commit", git_commit(workflow_dir)),
        ("snakemake", _version("snakemake")),
        ("python", platform.python_version()),
        (
            "machine",
            f"{platform.node()} — {platform.platform()}, {os.cpu_count()} CPUs, {_memory()}",
        ),
        ("GPU", gpu_description()),
    ]


def git_commit(directory: Path) -> str:
    if not shutil.which("git"):
        return "unknown (git not installed)"
    try:
        head = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except subprocess.CalledProcessError:
        return f"unknown ({directory} is not a git checkout)"
    return head + (" (with uncommitted changes)" if dirty else "")


def gpu_description() -> str:
    if not shutil.which("nvidia-smi"):
        return "none detected on the machine that built the report (no nvidia-smi)"
    result = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip().replace("\n", "; ") or "none detected (nvidia-smi found no GPU)"


def _memory() -> str:
    try:
        with open("/proc/meminfo") as handle:
            kib = int(handle.readline().split()[1])
        return f"{kib / 2**20:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        return "RAM unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def package_versions() -> pl.DataFrame:
    return pl.DataFrame({"package": list(PACKAGES), "version": [_version(p) for p in PACKAGES]})


def _benchmark_blocks(inputs: Inputs) -> list:
    frames = []
    for rel in inputs.glob("benchmarks/**/*.tsv"):
        frame = pl.read_csv(
            inputs.path(rel), separator="\t", null_values=["-", "NA"], infer_schema_length=None
        )
        if (
            Path(rel).parts[1] != "build_report"
        ):  # the previous report's own run time is no input change
            inputs.remember(inputs.path(rel))
        frames.append(
            frame.select(
                pl.lit(Path(rel).parts[1]).alias("rule"),
                pl.col("s").cast(pl.Float64),
                pl.col("max_rss").cast(pl.Float64, strict=False),
            )
        )
    if not frames:
        raise MissingInput("results/benchmarks/**/*.tsv", "all")
    per_rule = (
        pl.concat(frames)
        .group_by("rule")
        .agg(
            jobs=pl.len(),
            total_s=pl.col("s").sum(),
            max_s=pl.col("s").max(),
            max_rss_mb=pl.col("max_rss").max(),
        )
        .sort("total_s", descending=True)
    )
    return [table_from_frame(per_rule, "Run time per rule (from the benchmark files)", digits=1)]


# ---- section 1: summary -------------------------------------------------------------------------------
def summary_section(inputs: Inputs, config: dict, changes: list[str]) -> Section:
    section = Section("summary", "Summary")
    corpus, split = config["corpus"], config["split"]
    section.blocks.append(
        Facts(
            (
                ("corpus", f"{corpus['type']} at {corpus['root']}"),
                ("sessions", ", ".join(corpus["sessions"])),
                (
                    "split",
                    f"{split['scheme']}"
                    + (
                        f" (test: {split['test_session']})" if split["scheme"] == "session5" else ""
                    ),
                ),
                ("classes", ", ".join(corpus["classes"])),
                (
                    "BLSTMATT",
                    "{num_layers}×{hidden_size} BLSTM, attention context {context_size}".format(
                        **config["blstmatt"]
                    ),
                ),
                (
                    "CSA",
                    f"{config['csa']['channels']} channels, contexts {', '.join(map(str, config['csa']['contexts']))} frames",
                ),
                ("seeds", ", ".join(map(str, config["train"]["seeds"]))),
            )
        )
    )
    section.blocks += guarded("Headline numbers", lambda: _headline_blocks(inputs, config))
    section.blocks += guarded("Vowel vs consonant verdict", lambda: stage_verdict(inputs, config))
    section.blocks.append(Paragraph("What changed since the last report: " + "; ".join(changes)))
    return section


def _headline_blocks(inputs: Inputs, config: dict) -> list:
    if inputs.path(TABLE1).is_file():
        table1 = inputs.table(TABLE1, "fusion", ["system"])
        selected = set()
        if inputs.path(FUSION["selection"]).is_file():
            selected = set(
                inputs.table(FUSION["selection"], "fusion", ["context"])["context"].to_list()
            )
        if (
            "context" in table1.columns
        ):  # BLSTMATT, SYSComb rows and the CSA context fusion selected
            table1 = table1.filter(
                pl.col("context").is_null() | pl.col("context").is_in(list(selected))
            )
        return [
            table_from_frame(
                table1_view(table1), "Headline numbers (test set; full Table 1 in Models)"
            ),
            Paragraph(UA_WA_NOTE),
        ]
    summary = system_summary(metrics_frame(load_run_metrics(inputs, config)))
    return [
        table_from_frame(summary, "Headline numbers (test set, 95% bootstrap CIs)"),
        Paragraph(UA_WA_NOTE),
    ]


def stage_verdict(inputs: Inputs, config: dict) -> list:
    """The paper's claim, tested: paired vowel vs consonant over all utterances, + circular shift."""
    blocks = []
    for label, folder in attention_runs(inputs).items():
        tests = inputs.table(
            f"{folder}/tests.parquet",
            "attention",
            ["test", "variant", "group_type", "alternative", "pvalue", "effect_size"],
        )
        overall = tests.filter(pl.col("group_type") == "all")
        paired = overall.filter(pl.col("test") == "vowel_vs_consonant", pl.col("variant") == "raw")
        if paired.height == 0:
            raise BadInput(
                f"results/{folder}/tests.parquet has no overall raw vowel_vs_consonant row"
            )
        one_sided_shift = overall.filter(
            pl.col("test") == "circular_shift", pl.col("alternative") == "greater"
        )
        blocks.append(
            Paragraph(
                f"Vowels vs consonants ({label}): "
                + verdict_text(
                    paired.row(0, named=True),
                    _first(one_sided_shift.filter(pl.col("variant") == "raw")),
                    _first(one_sided_shift.filter(pl.col("variant") == "position_adjusted")),
                )
            )
        )
    return blocks


def _first(frame: pl.DataFrame) -> dict | None:
    return frame.row(0, named=True) if frame.height else None


def verdict_text(
    paired: dict, shift: dict | None, adjusted_shift: dict | None = None, alpha: float = 0.05
) -> str:
    """One sentence: direction (if p < alpha), effect size with CI, p, and the circular-shift p's.

    The plain circular shift keeps each curve's autocorrelation but not a position trend shared
    by all utterances; only its position-adjusted variant controls for that (README: Attention).
    """
    effect = paired["effect_size"]
    if paired["pvalue"] < alpha:
        claim = f"attention is {'higher' if effect > 0 else 'lower'} on vowels than on consonants"
    else:
        claim = "no significant difference between vowels and consonants"
    ci = f"[{paired.get('ci_low', math.nan):+.2f}, {paired.get('ci_high', math.nan):+.2f}]"
    text = (
        f"{claim} (paired Wilcoxon over {paired.get('n', '?')} utterances, "
        f"{paired.get('effect_size_name', 'effect size')} {effect:+.2f} {ci}, p = {fmt_pvalue(paired['pvalue'])})"
    )
    if shift is not None:
        text += f"; circular-shift null (keeps attention's autocorrelation), vowels higher: p = {fmt_pvalue(shift['pvalue'])}"
    if adjusted_shift is not None:
        text += f"; the same after removing the common trend over position: p = {fmt_pvalue(adjusted_shift['pvalue'])}"
    return text + "."


# ---- checksums: what changed since the last report ---------------------------------------------------
def config_digest(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def describe_changes(
    previous: dict | None, checksums: dict[str, str], config_sha: str
) -> list[str]:
    """Human lines: config changed, inputs changed / new / gone since the previous sidecar."""
    if previous is None:
        return ["this is the first report in this folder (no previous report.inputs.json)."]
    old = previous.get("inputs", {})
    changed = sorted(name for name in checksums.keys() & old.keys() if checksums[name] != old[name])
    new = sorted(checksums.keys() - old.keys())
    gone = sorted(old.keys() - checksums.keys())
    lines = [f"compared with the report of {previous.get('date', 'an unknown date')}"]
    if previous.get("config_sha256") != config_sha:
        lines.append("the configuration changed")
    for label, names in (("changed", changed), ("new", new), ("no longer present", gone)):
        if names:
            shown = ", ".join(names[:12]) + (
                f" and {len(names) - 12} more" if len(names) > 12 else ""
            )
            lines.append(f"{len(names)} input(s) {label}: {shown}")
    if len(lines) == 1:
        lines.append("no input changed")
    return lines


# ---- the page ---------------------------------------------------------------------------------------------
SECTIONS: list[tuple[str, str, list[tuple[str, Builder]]]] = [
    (
        "data",
        "Data",
        [
            ("Utterance counts and durations", _corpus_blocks),
            ("Dropped and skipped items", _dropped_blocks),
            ("Alignment quality", _alignment_blocks),
        ],
    ),
    (
        "models",
        "Models",
        [
            ("Table 1", _table1_blocks),
            ("Training curves", _history_blocks),
            ("Confusion matrices", _confusion_blocks),
        ],
    ),
    ("sweep", "Context sweep", [("CSA context sweep", _sweep_blocks)]),
    (
        "fusion",
        "Fusion",
        [
            ("Weight selection on validation", _fusion_weight_blocks),
            ("Significance of system differences", _significance_blocks),
        ],
    ),
    ("attention", "Attention", [("Attention analysis", _attention_blocks)]),
]
INTROS = {
    "fusion": "SYSComb fuses the two systems log-linearly per test utterance: log p = log p_BLSTMATT + w · log p_CSA "
    "(renormalised). The CSA context and w are chosen on the validation split only; the paper's "
    "w = {fusion[paper_weight]:g} is reported beside the chosen one.",
    "attention": "Normalised attention a = α·T (1.0 = uniform over the utterance's frames) mapped onto the phones "
    "and words of every aligned test utterance. Tests report statistic, p-value, BH q-value within "
    "each family, effect size with a 95% bootstrap CI and n.",
}


# ---- rendering ------------------------------------------------------------------------------------------
@cache
def javascript_bundle() -> str:
    """vega + vega-lite + vega-embed and the chart-drawing snippet, as one ES module."""
    import vl_convert

    bundle = vl_convert.javascript_bundle(EMBED_SNIPPET, vl_version=VEGA_LITE_VERSION)
    # The bundle is inlined in a <script>; make sure no string in it can close that element.
    return re.sub(r"</(script)", r"<\\/\1", bundle, flags=re.IGNORECASE)


def render_html(sections: list[Section], title: str, generated: str) -> str:
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
        id(chart): (index, Markup(_prefix_svg_ids(chart.svg, f"c{index}-")))
        for index, chart in enumerate(charts)
    }
    environment.globals["chart_view"] = lambda chart: views[id(chart)]
    return environment.get_template(TEMPLATE_NAME).render(
        title=title,
        generated=generated,
        sections=sections,
        bundle=Markup(javascript_bundle()) if charts else None,
        n_tables=sum(section.tables() for section in sections),
        n_charts=len(charts),
    )


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
    """Read every available stage output under ``results_dir`` and render the page."""
    started = dt.datetime.now(dt.timezone.utc)
    inputs = Inputs(results_dir)
    workflow_dir = Path(workflow_dir) if workflow_dir else Path(__file__).resolve().parents[2]
    body = [
        assemble(*spec, inputs, config, intro=INTROS.get(spec[0], "").format(**config) or None)
        for spec in SECTIONS
    ]
    body.append(provenance_section(inputs, config, workflow_dir, started))
    changes = describe_changes(previous, inputs.checksums, config_digest(config))
    sections = [summary_section(inputs, config, changes), *body]
    html = render_html(
        sections,
        config.get("report", {}).get("title", "emocue report"),
        started.strftime("%Y-%m-%d %H:%M UTC"),
    )
    return Report(sections=sections, html=html, checksums=dict(sorted(inputs.checksums.items())))


def sidecar_path(report_path: str | Path) -> Path:
    report_path = Path(report_path)
    return report_path.with_name(report_path.name.removesuffix(".html") + SIDECAR_SUFFIX)


def write_report(
    results_dir: str | Path,
    config: dict,
    output: str | Path,
    workflow_dir: str | Path | None = None,
) -> Report:
    """Build the report, write it and its checksum sidecar (read first: the previous state)."""
    output = Path(output)
    sidecar = sidecar_path(output)
    previous = json.loads(sidecar.read_text()) if sidecar.is_file() else None
    report = build_report(results_dir, config, previous=previous, workflow_dir=workflow_dir)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report.html, encoding="utf-8")
    sidecar.write_text(
        json.dumps(
            {
                "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "config_sha256": config_digest(config),
                "inputs": report.checksums,
            },
            indent=1,
        )
    )
    log.info(
        "report: %s (%.1f MB, %d tables, %d charts)",
        output,
        output.stat().st_size / 1e6,
        report.n_tables,
        report.n_charts,
    )
    return report
