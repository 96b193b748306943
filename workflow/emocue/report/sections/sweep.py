"""Report section "Context sweep": CSA accuracy against the context length C."""

from __future__ import annotations

import altair as alt
import polars as pl

from emocue import layout
from emocue.report.blocks import SectionSpec, chart_block, table_from_frame
from emocue.report.inputs import Inputs
from emocue.report.sections.models import TABLE1, metric_label

SWEEP = layout.SWEEP_OUTPUTS["sweep"]  # one row per (context, fold, seed)
LEVEL_LABELS = {"": "test", "chunk_": "test chunk-level"}


def files(config: dict) -> dict[str, list[str]]:
    return {"sweep": [SWEEP]}  # and Table 1 (declared by the models section)


def per_context(inputs: Inputs) -> pl.DataFrame:
    """Per CSA context: test WA/UA with CIs at utterance and chunk level (Table 1's CSA rows, the
    score stage's across-seed summaries), validation WA/UA and test utterances kept / left out
    (means over the sweep's runs)."""
    runs = inputs.table(SWEEP, "sweep", ["context", "val_wa", "val_ua", "n_test_kept", "n_test_left_out"])
    table = inputs.table(TABLE1, "table1", ["system", "context"])
    scores = table.filter(pl.col("system").str.starts_with(layout.CSA_PREFIX)).select(
        pl.col("context").cast(pl.Int64),
        *[pl.col(f"{level}{m}{s}") for level in LEVEL_LABELS for m in ("wa", "ua")
          for s in ("", "_ci_low", "_ci_high")],
    )
    validation = (
        runs.group_by("context", maintain_order=True)
        .agg(
            runs=pl.len(),
            val_wa=pl.col("val_wa").mean(),
            val_ua=pl.col("val_ua").mean(),
            test_kept=pl.col("n_test_kept").mean(),
            test_left_out=pl.col("n_test_left_out").mean(),
        )
        .with_columns(pl.col("context").cast(pl.Int64))
    )
    return validation.join(scores, on="context", how="left").sort("context")


def _sweep_blocks(inputs: Inputs, config: dict) -> list:
    frame = per_context(inputs)
    validation = ["val_wa", "val_ua"]
    long = pl.concat(
        [
            frame.select(
                "context",
                value=pl.col(f"{level}{m}"),
                low=pl.col(f"{level}{m}_ci_low"),
                high=pl.col(f"{level}{m}_ci_high"),
                metric=pl.lit(f"{label} {m.upper()}"),
            )
            for level, label in LEVEL_LABELS.items()
            for m in ("wa", "ua")
        ]
        + [
            frame.select(
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
            frame.unpivot(
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
            "CSA accuracy vs context length (test WA/UA, utterance and chunk level, with CI bands; "
            "validation dashed)",
            note=f"Test: Table 1's CSA rows (results/{TABLE1}: mean over seeds of the fold-pooled "
            "score, bootstrap CI over test utterances); validation and the lower panel: means over "
            f"the runs of results/{SWEEP}. Utterances shorter than C frames have no chunk and are "
            "left out of that context's test set (lower panel).",
        ),
        table_from_frame(
            frame.select(
                "context",
                "runs",
                *[pl.col(m).alias(metric_label(m)) for m in validation],
                "test_kept",
                "test_left_out",
            ),
            "Sweep per context: validation scores and test utterances kept (means over folds and "
            "seeds; test WA/UA per context are in Table 1)",
            digits=3,
        ),
    ]


SECTION = SectionSpec(
    id="sweep", title="Context sweep", files=files, parts=(("CSA context sweep", _sweep_blocks),)
)
