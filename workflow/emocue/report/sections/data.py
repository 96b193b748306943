"""Report section "Data": utterances per session and class, durations, dropped items, alignment QA."""

from __future__ import annotations

import altair as alt
import polars as pl

from emocue import layout, table1
from emocue.align import CAUSE_HINTS
from emocue.report.blocks import (
    MAX_LISTED_ROWS,
    NotConfigured,
    Paragraph,
    SectionSpec,
    chart_block,
    table_from_frame,
)
from emocue.report.inputs import Inputs, MissingInput, not_configured


def files(config: dict) -> dict[str, list[str]]:
    sessions = config["corpus"]["sessions"]
    declared = {
        "manifests": [layout.corpus_table(session, root="") for session in sessions],
        "dropped": [layout.corpus_dropped(session, root="") for session in sessions],
    }
    if not not_configured(config, "align"):
        declared["alignment_qa"] = [f"align/{session}.qa.parquet" for session in sessions]
        declared["oov"] = [f"align/{session}.oov.parquet" for session in sessions]
    return declared


def speaker_overlap(inputs: Inputs, config: dict) -> str | None:
    """:func:`emocue.table1.speaker_overlap` on the corpus tables (None: no speaker overlap)."""
    return table1.speaker_overlap(manifest(inputs, config), config)


def manifest(inputs: Inputs, config: dict) -> pl.DataFrame:
    return inputs.tables(
        inputs.declared("manifests"), "corpus", ["utt_id", "session", "speaker", "label", "duration_s"]
    )


def _corpus_blocks(inputs: Inputs, config: dict) -> list:
    frame = manifest(inputs, config)
    classes = list(config["corpus"]["classes"])
    counts = (
        frame.group_by("session", "label", maintain_order=True)
        .agg(pl.len().alias("n"))
        .pivot(on="label", index="session", values="n", aggregate_function="sum")
        .fill_null(0)
    )
    for label in classes:
        if label not in counts.columns:
            counts = counts.with_columns(pl.lit(0, dtype=pl.UInt32).alias(label))
    counts = counts.select("session", *classes).with_columns(total=pl.sum_horizontal(classes))
    order = {session: index for index, session in enumerate(config["corpus"]["sessions"])}
    counts = counts.sort(pl.col("session").replace_strict(order, default=len(order)), maintain_order=True)
    totals = counts.select(
        pl.lit("all").alias("session"), *[pl.col(c).sum() for c in counts.columns[1:]]
    )
    counts = pl.concat([counts, totals], how="vertical_relaxed")
    durations = (
        frame.group_by("session", maintain_order=True)
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
        Paragraph(
            speaker_overlap(inputs, config)
            or "No speaker is in both the test and the training sessions of any fold."
        ),
        table_from_frame(counts, "Utterances per session and class"),
        table_from_frame(durations, "Durations per session (seconds; hours in total)", digits=2),
        chart_block(duration_histogram(frame, classes), "Utterance duration by class"),
    ]


def duration_histogram(frame: pl.DataFrame, classes: list[str], bin_s: float = 0.5) -> alt.Chart:
    """Pre-binned counts (the page carries bins, never one row per utterance)."""
    binned = (
        frame.with_columns(start_s=(pl.col("duration_s") / bin_s).floor() * bin_s)
        .group_by("label", "start_s", maintain_order=True)
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
    relatives = inputs.declared("dropped")
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
        frame.group_by("stage", "reason", maintain_order=True)
        .agg(items=pl.len(), sessions=pl.col("session").unique().sort().str.join(", "))
        .sort(["items", "stage", "reason"], descending=[True, False, False])
    )
    listing_columns = [
        c for c in ("stage", "session", "utt_id", "reason", "path") if c in frame.columns
    ]
    return [
        Paragraph(f"{frame.height:,} items were dropped or skipped, by stage and reason:"),
        table_from_frame(summary, "Dropped or skipped items by reason"),
        table_from_frame(
            frame.select(listing_columns).sort("stage", "session", "utt_id", maintain_order=True),
            "Every dropped item",
            note=f"Full lists: {', '.join('results/' + rel for rel in relatives)}.",
            max_rows=MAX_LISTED_ROWS,
        ),
    ]


def _alignment_blocks(inputs: Inputs, config: dict) -> list:
    reason = not_configured(config, "align")
    if reason:
        raise NotConfigured(reason)
    sessions = config["corpus"]["sessions"]
    columns = ["utt_id", "aligned", "reason", "cause", "n_oov", "n_unknown_phones", "partly_unknown",
               "phones_per_s", "end_mismatch_s"]
    qa_files = dict(zip(sessions, inputs.declared("alignment_qa")))
    frames = [
        inputs.table(rel, "align", columns).with_columns(session=pl.lit(session))
        for session, rel in qa_files.items()
        if inputs.exists(rel)
    ]
    if not frames:
        raise MissingInput(f"results/{qa_files[sessions[0]]}", "align")
    qa = pl.concat(frames, how="diagonal_relaxed")
    order = {session: index for index, session in enumerate(sessions)}
    per_session = (
        qa.group_by("session", maintain_order=True)
        .agg(
            utterances=pl.len(),
            aligned=pl.col("aligned").sum(),
            aligned_pct=100 * pl.col("aligned").mean(),
            oov_words=pl.col("n_oov").sum(),
            partly_unknown=pl.col("partly_unknown").sum(),
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
            failed.group_by("reason", maintain_order=True)
            .agg(utterances=pl.len())
            .sort(["utterances", "reason"], descending=[True, False])
        )
        blocks.append(table_from_frame(reasons, "Why utterances were not aligned"))
        blocks += _mfa_causes(failed, config)
        blocks.append(
            table_from_frame(
                failed.select("utt_id", "reason").sort("utt_id", maintain_order=True),
                "Utterances not aligned",
                max_rows=MAX_LISTED_ROWS,
            )
        )
    unknown = qa.filter(pl.col("partly_unknown"))
    if unknown.height:
        blocks.append(
            table_from_frame(
                unknown.select("session", "utt_id", "n_unknown_phones", "n_oov")
                .sort("session", "utt_id", maintain_order=True),
                "Aligned, but partly unknown speech (spn / OOV phones: class `other`, left out of "
                "the vowel and consonant tests)",
                max_rows=MAX_LISTED_ROWS,
            )
        )
    oov_files = [relative for relative in inputs.declared("oov") if inputs.exists(relative)]
    if oov_files:
        oov = inputs.tables(oov_files, "align", ["word", "count"])
        if oov.height:
            words = (
                oov.group_by("word", maintain_order=True)
                .agg(pl.col("count").sum())
                .sort("count", "word", descending=[True, False])
            )
            blocks.append(
                table_from_frame(words, "Out-of-vocabulary words", max_rows=MAX_LISTED_ROWS)
            )
        else:
            blocks.append(Paragraph("No out-of-vocabulary words."))
    return blocks


def _mfa_causes(failed: pl.DataFrame, config: dict) -> list:
    """Why MFA made no TextGrid, where its outputs say (counted), with what to do about each."""
    causes = failed.filter(pl.col("cause").is_not_null())
    if causes.height == 0:
        return []
    settings = {"retry_beam": config["align"]["mfa"]["retry_beam"],
                "output_dir": "results/align/mfa/<session>"}
    counted = (
        causes.group_by("cause", maintain_order=True)
        .agg(utterances=pl.len())
        .sort(["utterances", "cause"], descending=[True, False])
        .with_columns(
            what_to_do=pl.col("cause").replace_strict(
                {cause: hint.format(**settings) for cause, hint in CAUSE_HINTS.items()},
                default="—",
            )
        )
    )
    return [table_from_frame(counted, "Why MFA made no TextGrid (causes its outputs state)")]


SECTION = SectionSpec(
    id="data",
    title="Data",
    files=files,
    parts=(
        ("Utterance counts and durations", _corpus_blocks),
        ("Dropped and skipped items", _dropped_blocks),
        ("Alignment quality", _alignment_blocks),
    ),
)
