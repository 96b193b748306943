"""Report section "Models": Table 1 (ours beside the paper's, with the published systems), the
training runs, training curves and confusion matrices.

Table 1 is built by the table1 stage and rendered by :func:`emocue.table1.render_html`, the one
rendering of it (also results/table1/table1.html); per-system confusion counts come from the score
stage (results/score/<system>/confusion.parquet).
"""

from __future__ import annotations

import altair as alt
import polars as pl

from emocue import layout, table1
from emocue.report.blocks import (
    Html,
    Paragraph,
    SectionSpec,
    chart_block,
    table_from_frame,
)
from emocue.report.inputs import Inputs, MissingInput, configured_runs, run_files
from emocue.report.sections.data import manifest

TABLE1 = layout.TABLE1_OUTPUTS["table"]
PUBLISHED = layout.TABLE1_OUTPUTS["published"]
# metrics.json fields shown per training run (docs/outputs.md, "train")
RUN_FIELDS = ("epochs", "best_epoch", "stopped_early", "may_be_undertrained", "never_improved",
              "n_test", "wa", "ua")


def systems(config: dict) -> list[str]:
    return layout.paper_systems(config["csa"]["contexts"], config["fusion"]["paper_weight"])


def files(config: dict) -> dict[str, list[str]]:
    return {
        "table1": [TABLE1, PUBLISHED],
        "run_metrics": run_files(config, "metrics"),
        "run_histories": run_files(config, "history"),
        "confusions": [layout.score_file("confusion", system, root="") for system in systems(config)],
    }


def _table1_blocks(inputs: Inputs, config: dict) -> list:
    table = inputs.table(TABLE1, "table1", ["system", *table1.SUMMARY_FIELDS, "paper_wa", "paper_ua"])
    published = inputs.table(PUBLISHED, "table1", ["system", "wa", "ua", "source"])
    # the same notes as results/table1/table1.md (one function: emocue.table1.protocol_notes)
    notes = table1.protocol_notes(config, manifest(inputs, config))
    return [Html(table1.render_html(table, published, notes))]


def headline(inputs: Inputs, config: dict, selected_contexts: set[int]) -> list[str]:
    """One line per headline system (BLSTMATT, the CSA context(s) fusion chose, SYSComb rows), in
    Table 1's own cell formatting: ours with CI, then the paper's value."""
    table = inputs.table(TABLE1, "table1", ["system", "context", "paper_wa", "paper_ua", "paper_note"])
    lines = []
    for row in table.iter_rows(named=True):
        context = layout.csa_context(row["system"])
        if context is not None and context not in selected_contexts:
            continue
        # Table 1's cells without its paper note (the WA cell would carry it); the note follows once
        cell = dict(zip(table1.HEADER, table1.cells({**row, "paper_note": None}), strict=True))
        lines.append(
            f"{cell['System']}: WA {cell['WA % [CI]']} %, UA {cell['UA % [CI]']} % ({paper_values(row, cell)})"
        )
    return lines


def paper_values(row: dict, cell: dict) -> str:
    """E.g. "paper: WA 80.1, UA 73.5", "paper: WA 80.5, UA 74.0 at CSA C = 30", "not in the paper"."""
    if row["paper_wa"] is None and row["paper_ua"] is None:
        return row["paper_note"] or "not in the paper"
    note = row["paper_note"]
    at = f" at {note.removeprefix('paper: ')}" if note else ""
    return f"paper: WA {cell['Paper WA %']}, UA {cell['Paper UA %']}{at}"


def _runs_blocks(inputs: Inputs, config: dict) -> list:
    rows = []
    for run in configured_runs(config):
        if inputs.exists(run.file("metrics")):
            metrics = inputs.json(run.file("metrics"), "train")
            rows.append({"system": run.system, "fold": run.fold, "seed": run.seed,
                         **{field: metrics.get(field) for field in RUN_FIELDS}})
    if not rows:
        raise MissingInput("results/train/**/metrics.json", "train")
    frame = pl.DataFrame(rows, infer_schema_length=None)
    flagged = frame.filter(pl.col("may_be_undertrained").fill_null(False)
                           | pl.col("never_improved").fill_null(False))
    blocks: list = []
    if flagged.height:
        blocks.append(Paragraph(
            f"{flagged.height} of {frame.height} runs may be under-trained (best epoch = last epoch "
            "without early stopping) or never improved after epoch 1; raise train.max_epochs or check "
            "the learning rate: " + ", ".join(f"{r['system']} {r['fold']} seed {r['seed']}"
                                              for r in flagged.iter_rows(named=True))
        ))
    blocks.append(table_from_frame(frame, "Training runs (point WA/UA: the run's log; CIs in Table 1)",
                                   max_rows=100))
    blocks += _split_composition(inputs, config)
    return blocks


def _split_composition(inputs: Inputs, config: dict) -> list:
    """Per fold, the training/validation/test utterances and speakers per class, from the first
    seed's BLSTMATT run (CSA runs of that fold and seed share its split; other seeds draw other
    validation utterances)."""
    first_seed = int(config["train"]["seeds"][0])
    rows = []
    for run in configured_runs(config):
        if run.model == "blstmatt" and run.seed == first_seed and inputs.exists(run.file("metrics")):
            composition = inputs.json(run.file("metrics"), "train").get("split_composition") or []
            rows += [{"fold": run.fold, **row} for row in composition]
    if not rows:
        return []
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return [table_from_frame(frame, f"Split composition per fold (seed {first_seed}): utterances "
                             "and speakers per split and class", max_rows=100)]


def metric_label(name: str) -> str:
    """`val_wa` -> `validation WA`, `ua` -> `UA`."""
    return ("validation " if name.startswith("val_") else "") + name.removeprefix("val_").upper()


def _history_blocks(inputs: Inputs, config: dict) -> list:
    columns = ["epoch", "train_loss", "val_loss", "val_wa", "val_ua", "lr"]
    frames = []
    for run in configured_runs(config):
        relative = run.file("history")
        if inputs.exists(relative):
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
    classes = list(config["corpus"]["classes"])
    columns = ["system", "level", "seed", "label", "pred", "count"]
    counts = inputs.tables(inputs.declared("confusions"), "score", columns)
    # utterance-level decisions, summed over seeds; recall = each cell's share of its true class
    frame = (
        counts.filter(pl.col("level") == "utterance")
        .group_by("system", "label", "pred", maintain_order=True)
        .agg(pl.col("count").sum())
        .rename({"label": "true"})
        .with_columns(recall=pl.col("count") / pl.col("count").sum().over("system", "true"))
    )
    order = [system for system in systems(config) if system in set(frame["system"].to_list())]
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
            facet=alt.Facet("system:N", sort=order, title=None), columns=4
        )
    )
    return [chart_block(chart, "Confusion matrices (test set, utterance level; counts summed over folds and seeds)")]




SECTION = SectionSpec(
    id="models",
    title="Models",
    files=files,
    parts=(
        ("Table 1", _table1_blocks),
        ("Training runs", _runs_blocks),
        ("Training curves", _history_blocks),
        ("Confusion matrices", _confusion_blocks),
    ),
)
