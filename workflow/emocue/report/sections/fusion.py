"""Report section "Fusion": the validation-only choice of CSA context and weight, and significance."""

from __future__ import annotations

import altair as alt
import polars as pl

from emocue import layout
from emocue.report.blocks import SectionSpec, chart_block, fmt_pvalue, table_from_frame
from emocue.report.inputs import Inputs
from emocue.report.sections.models import metric_label

FUSION = {name: layout.FUSION_OUTPUTS[name] for name in ("selection", "weight_curve")}
SIGNIFICANCE = layout.SIGNIFICANCE_OUTPUTS


def files(config: dict) -> dict[str, list[str]]:
    return {**{f"fusion_{name}": [path] for name, path in FUSION.items()},
            **{f"significance_{name}": [path] for name, path in SIGNIFICANCE.items()}}



def _fusion_weight_blocks(inputs: Inputs, config: dict) -> list:
    curve = inputs.table(
        FUSION["weight_curve"], "fusion", ["context", "weight", "val_wa", "val_ua"]
    )
    selection = inputs.table(FUSION["selection"], "fusion", ["context", "weight"])
    mean_curve = (
        curve.group_by("context", "weight", maintain_order=True)
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
    chosen = selection.select(pl.format("C={}", "context").alias("context"), "weight").unique(maintain_order=True)
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


def _difference_rows(table: pl.DataFrame) -> pl.DataFrame:
    """A significance table as the report shows it: differences in points with their CIs."""
    rows = []
    for row in table.iter_rows(named=True):
        rows.append(
            {
                **{key: row[key] for key in ("fold", "seed", "n_folds") if key in row},
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
    return pl.DataFrame(rows)


def _significance_blocks(inputs: Inputs, config: dict) -> list:
    needed = ["system_a", "system_b", "wa_diff", "ua_diff", "mcnemar_pvalue"]
    runs = inputs.table(SIGNIFICANCE["pairs"], "significance", needed)
    blocks: list = [
        table_from_frame(
            _difference_rows(runs),
            "System differences on the same test utterances",
            note="Differences in percentage points with 95% paired-bootstrap CIs; "
            "McNemar's exact test on correct/incorrect decisions.",
        )
    ]
    if inputs.exists(SIGNIFICANCE["seeds"]):
        seeds = inputs.table(SIGNIFICANCE["seeds"], "significance", [*needed, "n_folds"])
        if seeds.height and seeds["n_folds"].max() > 1:
            blocks.append(table_from_frame(
                _difference_rows(seeds),
                "Per seed, the test utterances of all folds pooled",
                note="The same comparisons on each seed's pooled test predictions (leave-one-out "
                "schemes: each utterance once), which a fold of a few dozen utterances is too small "
                "to test; q-values within the seed.",
            ))
    if inputs.exists(SIGNIFICANCE["summary"]):
        summary = inputs.table(SIGNIFICANCE["summary"], "significance")
        if summary.height and summary["n_runs"].max() > 1:
            blocks.append(table_from_frame(summary, "Across folds and seeds"))
    return blocks


def _difference(row: dict, metric: str) -> str:
    low, high = row.get(f"{metric}_diff_ci_low"), row.get(f"{metric}_diff_ci_high")
    text = f"{100 * row[f'{metric}_diff']:+.1f}"
    return text + (
        f" [{100 * low:+.1f}, {100 * high:+.1f}]" if low is not None and high is not None else ""
    )




SECTION = SectionSpec(
    id="fusion",
    title="Fusion",
    files=files,
    parts=(
        ("Weight selection on validation", _fusion_weight_blocks),
        ("Significance of system differences", _significance_blocks),
    ),
    intro="SYSComb fuses the two systems log-linearly per test utterance: "
    "log p = log p_BLSTMATT + w · log p_CSA (renormalised). The CSA context and w are chosen on "
    "the validation split only; the paper's w = {fusion[paper_weight]:g} is reported beside the "
    "chosen one.",
)
