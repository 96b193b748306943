"""Table 1, built once: every system's scores beside the paper's, and the published systems.

Rows (one per system of the score stage, in :data:`emocue.layout` names): BLSTMATT, CSA-C<context>
for each context (utterance level, with the chunk-level WA / UA beside it), SYSComb (CSA context
and weight chosen on validation) and SYSComb-w<paper weight>. Our numbers are the score stage's
across-seed summaries (emocue.scoring: mean over seeds of the fold-pooled score, s.d. across
seeds, bootstrap CI of that mean over test utterances).

The paper's values (Jalal, Milner & Hain, Interspeech 2020, Table 1) are placed under the usual
names: its "UA" column is the overall accuracy (our WA) and its "WA" column is the mean per-class
recall (our UA). Its SYSComb is CSA context 30 fused at w = 0.4, so it sits on our
``SYSComb-w0.4`` row, not on the validation-selected SYSComb row. The paper's comparison systems
are quoted in a separate "published systems" block (:func:`published_table`); emocue did not run
them.

:func:`render_markdown` and :func:`render_html` are the one rendering of Table 1 (the table1
stage's files and the report); :func:`protocol_notes` is the one text of the notes that depend on
the configuration and corpus (split protocol, speakers in both training and test).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from emocue import layout
from emocue.config import fold_names
from emocue.corpus import describe_shared_speakers, shared_speakers
from emocue.scoring import METRICS

PAPER = "Jalal, Milner & Hain (Interspeech 2020), Table 1"

# system -> (WA %, UA %) under the usual definitions (paper column "UA" -> WA, "WA" -> UA).
PAPER_TABLE1: dict[str, tuple[float, float]] = {
    layout.BLSTMATT: (80.1, 73.5),
    layout.csa_system(20): (75.8, 69.4),
    layout.csa_system(30): (76.3, 68.8),
    layout.csa_system(40): (75.1, 68.0),
    layout.csa_system(50): (73.9, 67.8),
    layout.csa_system(60): (75.1, 67.0),
    layout.csa_system(70): (74.1, 64.7),
    layout.csa_system(80): (73.2, 67.4),
    layout.csa_system(90): (74.8, 66.9),
    layout.csa_system(100): (74.6, 65.9),
    layout.csa_system(110): (73.8, 67.5),
    layout.csa_system(120): (72.2, 64.2),
    layout.syscomb_weight_system(0.4): (80.5, 74.0),  # the paper's SYSComb: CSA C = 30, w = 0.4
}
PAPER_SYSCOMB_CONTEXT = 30

# The paper's comparison systems (its reference numbers in brackets), quoted: (name, WA %, UA %),
# None where the paper gives no value. All are IEMOCAP 4-class, audio only except MULTIMODAL.
PUBLISHED_SYSTEMS: list[tuple[str, float | None, float | None]] = [
    ("Factor analysis [41]", None, 56.1),
    ("CNN.LSTM [42]", 59.4, None),
    ("CNN.RecCap [24]", 58.1, None),
    ("CNN.GRU-SeqCap [24]", 59.7, None),
    ("Attention Pool [43]", 71.8, None),
    ("MULTIMODAL: Attention [44]", 78.0, None),
]

SWAPPED_NAMES_NOTE = (
    "The paper's Table 1 labels the columns the other way round: what it calls UA is the overall "
    "accuracy (WA here, class-frequency weighted) and what it calls WA is the mean per-class recall "
    "(UA here). Reference values are placed under the usual definitions."
)

SUMMARY_FIELDS = [f"{name}{suffix}" for name in METRICS for suffix in ("", "_sd", "_ci_low", "_ci_high")]
CHUNK_FIELDS = [f"{name}{suffix}" for name in ("wa", "ua") for suffix in ("", "_ci_low", "_ci_high")]
TABLE1_SCHEMA = {
    "system": pl.String, "context": pl.Int32, "weight": pl.Float64, "n_seeds": pl.Int32,
    "n_folds": pl.Int32, "n_test": pl.Int32, **{field: pl.Float64 for field in SUMMARY_FIELDS},
    **{f"chunk_{field}": pl.Float64 for field in CHUNK_FIELDS}, "ci_method": pl.String,
    "confidence": pl.Float64, "paper_wa": pl.Float64, "paper_ua": pl.Float64,
    "paper_note": pl.String,
}


def _single(values: list) -> object | None:
    """The value every run shares, None when runs differ (e.g. a context selected per run)."""
    values = list(dict.fromkeys(values))
    return values[0] if len(values) == 1 else None


def is_fused(system: str) -> bool:
    return system == layout.SYSCOMB or system.startswith(layout.SYSCOMB_WEIGHT_PREFIX)


def system_settings(system: str, selection: pl.DataFrame) -> tuple[int | None, float | None]:
    """(context, weight) of a system: a CSA context, what fusion used on every run (None where
    runs differ), or neither (BLSTMATT, baselines)."""
    if not is_fused(system):
        return layout.csa_context(system), None
    contexts = _single(selection["context"].to_list())
    if system == layout.SYSCOMB:
        return contexts, _single(selection["weight"].to_list())
    return contexts, float(_single(selection["paper_weight"].to_list()))


def paper_note(system: str, context: int | None) -> str | None:
    if system not in PAPER_TABLE1:
        return None if system == layout.SYSCOMB else "not in the paper"
    if system.startswith(layout.SYSCOMB_WEIGHT_PREFIX) and context != PAPER_SYSCOMB_CONTEXT:
        return f"paper: CSA C = {PAPER_SYSCOMB_CONTEXT}"
    return None


def build_table1(summaries: Sequence[pl.DataFrame], selection: pl.DataFrame) -> pl.DataFrame:
    """One row per system, in the order of ``summaries`` (each a score-stage summary table)."""
    rows = []
    for summary in summaries:
        utterance = summary.filter(pl.col("level") == "utterance").row(0, named=True)
        chunk = summary.filter(pl.col("level") == "chunk")
        system = utterance["system"]
        context, weight = system_settings(system, selection)
        reference = PAPER_TABLE1.get(system)
        rows.append({
            "system": system, "context": context, "weight": weight,
            "n_seeds": utterance["n_seeds"], "n_folds": utterance["n_folds"],
            "n_test": utterance["n_utterances"],
            **{field: utterance[field] for field in SUMMARY_FIELDS},
            **{f"chunk_{field}": (chunk.row(0, named=True)[field] if chunk.height else None)
               for field in CHUNK_FIELDS},
            "ci_method": utterance["ci_method"], "confidence": utterance["confidence"],
            "paper_wa": reference[0] if reference else None,
            "paper_ua": reference[1] if reference else None,
            "paper_note": paper_note(system, context),
        })
    return pl.DataFrame(rows, schema=TABLE1_SCHEMA, orient="row")


def published_table() -> pl.DataFrame:
    """The paper's comparison systems, quoted (``source`` says so on every row)."""
    return pl.DataFrame(
        [{"system": name, "wa": wa, "ua": ua, "source": f"quoted from {PAPER}"}
         for name, wa, ua in PUBLISHED_SYSTEMS],
        schema={"system": pl.String, "wa": pl.Float64, "ua": pl.Float64, "source": pl.String},
        orient="row")


# ---- rendering (the one place Table 1 is turned into text) ---------------------------------------
HEADER = ["System", "Seeds × folds", "Test utts", "WA % [CI]", "UA % [CI]", "s.d. WA / UA",
          "Chunk WA % [CI]", "Chunk UA % [CI]", "Paper WA %", "Paper UA %"]
PUBLISHED_HEADER = ["Published system (quoted)", "WA %", "UA %"]


def row_label(row: dict) -> str:
    """E.g. "BLSTMATT (variable context)", "CSA-C30", "SYSComb (C = 30, w = 0.45)"."""
    if row["system"] == layout.BLSTMATT:
        return f"{layout.BLSTMATT} (variable context)"
    if not is_fused(row["system"]):
        return row["system"]
    details = [f"C = {row['context']}" if row["context"] is not None else "C per run",
               f"w = {row['weight']:g}" if row["weight"] is not None else "w per run"]
    return f"{row['system']} ({', '.join(details)})"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _with_ci(row: dict, name: str) -> str:
    if row[name] is None:
        return "–"
    return f"{_percent(row[name])} [{_percent(row[f'{name}_ci_low'])}, {_percent(row[f'{name}_ci_high'])}]"


def _paper(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def cells(row: dict) -> list[str]:
    spread = ("–" if row["wa_sd"] is None
              else f"{_percent(row['wa_sd'])} / {_percent(row['ua_sd'])}")
    paper = [_paper(row["paper_wa"]), _paper(row["paper_ua"])]
    if row["paper_note"] and row["paper_wa"] is not None:
        paper[0] += f" ({row['paper_note']})"
    return [row_label(row), f"{row['n_seeds']} × {row['n_folds']}", str(row["n_test"]),
            _with_ci(row, "wa"), _with_ci(row, "ua"), spread, _with_ci(row, "chunk_wa"),
            _with_ci(row, "chunk_ua"), *paper]


def published_cells(row: dict) -> list[str]:
    return [row["system"], _paper(row["wa"]), _paper(row["ua"])]


def notes(table: pl.DataFrame) -> list[str]:
    methods = sorted(set(zip(table["ci_method"].to_list(), table["confidence"].to_list())))
    return [
        SWAPPED_NAMES_NOTE,
        "WA = overall accuracy; UA = mean per-class recall. Each value is the mean over seeds of the "
        "score on every fold's test utterances pooled; s.d. is across seeds (training randomness); "
        + "; ".join(f"{100 * level:g} % {method} bootstrap CIs" for method, level in methods)
        + " are over test utterances, every seed scored on the same resample (test-set sampling).",
        "CSA rows are scored on the test utterances at least C frames long; the chunk columns score "
        "each C-frame chunk's own decision (utterances resampled). SYSComb rows score all test "
        "utterances (BLSTMATT alone where CSA has no decision).",
        f"The paper's SYSComb (CSA C = {PAPER_SYSCOMB_CONTEXT}, w = 0.4) is on the SYSComb-w0.4 row; "
        "the SYSComb row uses the context and weight chosen on validation, which the paper does not "
        "report.",
        f"Published systems: quoted from {PAPER}; emocue did not run them.",
    ]


def protocol(config: dict) -> str:
    """The evaluation protocol in one line (the report's Summary facts and the Table 1 notes)."""
    split = config["split"]
    test = f" (test: {split['test_session']})" if split["scheme"] == "session5" else ""
    validation = split.get("validation", "auto")
    resolved = " (speaker-disjoint with >= 4 training speakers, else stratified)" * (validation == "auto")
    return f"split.scheme {split['scheme']}{test}; validation split {validation}{resolved}"


def speaker_overlap(utterances: pl.DataFrame, config: dict) -> str | None:
    """The sentence naming speakers in both a fold's test and training sessions (None: the split is
    speaker-independent, or split by speaker); the same check the workflow logs at DAG time.

    ``utterances``: the corpus tables (session, speaker columns); ``config`` needs ``split`` and
    ``corpus.sessions``.
    """
    if config["split"]["scheme"] == "loso_speaker":  # folds are speakers: independent by construction
        return None
    shared = pl.concat(
        [shared_speakers(utterances, [fold]) for fold in fold_names(config)], how="vertical_relaxed"
    )
    return describe_shared_speakers(shared.unique(maintain_order=True))


def protocol_notes(config: dict, utterances: pl.DataFrame) -> list[str]:
    """The notes on every row of Table 1 that come from the configuration and the corpus tables;
    passed to :func:`render_markdown` / :func:`render_html` by the table1 stage and the report."""
    overlap = speaker_overlap(utterances, config)
    return [f"Protocol of every row of Table 1: {protocol(config)}.",
            *([f"Note on every row of Table 1: {overlap}"] if overlap else [])]


def render_markdown(table: pl.DataFrame, published: pl.DataFrame,
                    extra_notes: Sequence[str]) -> str:
    """Table 1, the quoted published systems and the notes (``extra_notes``: :func:`protocol_notes`)."""
    def block(header: list[str], rows: list[list[str]]) -> list[str]:
        return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                + ["| " + " | ".join(row) + " |" for row in rows])

    lines = block(HEADER, [cells(row) for row in table.iter_rows(named=True)])
    lines += [""] + block(PUBLISHED_HEADER,
                          [published_cells(row) for row in published.iter_rows(named=True)])
    return "\n".join(lines + [""] + [f"- {note}" for note in [*notes(table), *extra_notes]]) + "\n"


def render_html(table: pl.DataFrame, published: pl.DataFrame, extra_notes: Sequence[str]) -> str:
    """An HTML fragment: Table 1, the quoted published systems and the notes (``extra_notes``:
    :func:`protocol_notes`)."""
    def block(css: str, caption: str, header: list[str], rows: list[list[str]]) -> str:
        head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                       for row in rows)
        return (f'<table class="{css}"><caption>{html.escape(caption)}</caption>'
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n")

    items = "".join(f"<li>{html.escape(note)}</li>" for note in [*notes(table), *extra_notes])
    return (block("table1", "Table 1: BLSTMATT, CSA per context and SYSComb (ours beside the paper's)",
                  HEADER, [cells(row) for row in table.iter_rows(named=True)])
            + block("table1-published", f"Published systems, quoted from {PAPER}",
                    PUBLISHED_HEADER,
                    [published_cells(row) for row in published.iter_rows(named=True)])
            + f'<ul class="table1-notes">{items}</ul>\n')


def run_table1(summaries: Sequence[str | Path], selection: str | Path,
               manifests: Sequence[str | Path], config: dict,
               outputs: dict[str, str | Path]) -> pl.DataFrame:
    """The table1 stage: read the score summaries, fusion's selection and the corpus tables (for
    the speaker-overlap note), write the ``layout.TABLE1_OUTPUTS`` roles. ``config``: the
    ``split`` and ``corpus.sessions`` keys (:func:`protocol_notes`)."""
    table = build_table1([pl.read_parquet(path) for path in summaries], pl.read_parquet(selection))
    published = published_table()
    utterances = pl.concat([pl.read_parquet(path, columns=["session", "speaker"]) for path in manifests],
                           how="vertical_relaxed")
    extra_notes = protocol_notes(config, utterances)
    for path in outputs.values():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.write_parquet(outputs["table"])
    published.write_parquet(outputs["published"])
    Path(outputs["markdown"]).write_text(render_markdown(table, published, extra_notes))
    Path(outputs["html"]).write_text(render_html(table, published, extra_notes))
    return table
