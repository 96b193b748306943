"""Report section "Does the analysis find a planted cue?": each interpretation method's verdict on
planted-cue demo corpora (truth known) and, side by side, on the configured corpus.

Reads results/validation/summary.parquet (`snakemake validation`) and results/interpret/verdicts.parquet
and deletion_curve.parquet (`snakemake interpret`). Both are heavy, so they are part of the report
(and so of `snakemake`) only with ``validation.report: true``.
"""

from __future__ import annotations

import polars as pl

from emocue import layout
from emocue.report.blocks import NotConfigured, Paragraph, SectionSpec, table_from_frame
from emocue.report.inputs import Inputs

SUMMARY = layout.VALIDATION_SUMMARY
VERDICTS = layout.INTERPRET_OUTPUTS["verdicts"]
CURVE = layout.INTERPRET_OUTPUTS["deletion_curve"]
TRUTH = {"vowels": "vowel", "consonants": "consonant", "none": "none"}
METHOD_ORDER = ("deletion", "attention_paired", "attention_circular_adjusted", "integrated_gradients",
                "attention_controlled")


def files(config: dict) -> dict[str, list[str]]:
    if not config["validation"].get("report"):
        return {}
    return {"validation_summary": [SUMMARY], "interpret_verdicts": [VERDICTS], "interpret_curve": [CURVE]}


def _required(config: dict) -> None:
    if not config["validation"].get("report"):
        raise NotConfigured("validation.report is false: set it to true to run `snakemake interpret` and "
                            "`snakemake validation` with the report (see docs/benchmarks.md for their run time), "
                            "or run them yourself and rebuild the report with it set")


def truth_table(summary: pl.DataFrame) -> pl.DataFrame:
    """One row per method, one column per planted cue: the verdict, marked ✓ when it is the truth."""
    marked = summary.with_columns(
        (pl.col("verdict") + pl.when(pl.col("verdict") == pl.col("cue").replace_strict(TRUTH))
         .then(pl.lit(" ✓")).otherwise(pl.lit(" ✗"))).alias("shown"))
    wide = marked.pivot(on="cue", index="method", values="shown")
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    cues = [c for c in TRUTH if c in wide.columns]
    return (wide.with_columns(pl.col("method").replace_strict(order, default=99).alias("_order"))
            .sort("_order").select("method", *cues).rename({c: f"planted: {c}" for c in cues}))


def _planted_blocks(inputs: Inputs, config: dict) -> list:
    _required(config)
    summary = inputs.table(SUMMARY, "validation", ["cue", "method", "verdict", "effect", "ci_low", "ci_high",
                                                   "pvalue", "n", "accuracy"])
    accuracy = summary.group_by("cue", maintain_order=True).agg(pl.col("accuracy").first())
    found = summary.filter(pl.col("verdict") == pl.col("cue").replace_strict(TRUTH))
    trusted = sorted(set(summary["method"]) - set(summary.filter(
        pl.col("verdict") != pl.col("cue").replace_strict(TRUTH))["method"]))
    return [
        Paragraph("Each planted corpus is a demo corpus whose emotion is audible only inside vowels, only "
                  "inside consonants, or nowhere (random labels); models are trained on it as usual and "
                  "every method is asked which phone class matters (α = "
                  f"{config['attention']['alpha']}; effect > 0 means vowels). A method has earned trust "
                  "when it names the planted class and says none for the null corpus. "
                  f"{found.height} of {summary.height} verdicts are right; methods right on every "
                  f"planted corpus: {', '.join(trusted) if trusted else 'none'}."),
        table_from_frame(truth_table(summary), "Truth vs each method's verdict (✓ right, ✗ wrong)"),
        table_from_frame(accuracy.rename({"accuracy": "BLSTMATT test accuracy"}),
                         "How well the models learned each planted corpus (mean over seeds)"),
        table_from_frame(summary.select("cue", "method", "verdict", "effect", "ci_low", "ci_high", "pvalue",
                                        "n", "effect_name"), f"All verdicts (results/{SUMMARY})", digits=3),
    ]


def _configured_blocks(inputs: Inputs, config: dict) -> list:
    _required(config)
    verdicts = inputs.table(VERDICTS, "interpret", ["method", "verdict", "effect", "ci_low", "ci_high",
                                                    "pvalue", "n"])
    curve = inputs.table(CURVE, "interpret", ["model", "ranking", "fraction", "accuracy"])
    controlled = verdicts.filter(pl.col("method") == "attention_controlled")
    paired = verdicts.filter(pl.col("method") == "attention_paired")
    survives = ""
    if controlled.height and paired.height:
        before, after = paired["verdict"][0], controlled["verdict"][0]
        if before != "vowel":
            outcome = f"there is no vowel effect to control for (the paired attention test says {before})"
        else:
            outcome = "the vowel effect survives" if after == "vowel" else "the vowel effect does not survive"
        survives = (f" Controlling for energy, voicing, F0 and position: {outcome}; the vowel coefficient "
                    f"with controls is {controlled['effect'][0]:.3g} [{controlled['ci_low'][0]:.3g}, "
                    f"{controlled['ci_high'][0]:.3g}] (verdict {after}).")
    wide_curve = curve.pivot(on="ranking", index=["model", "fraction"], values="accuracy").sort("model", "fraction")
    return [
        Paragraph("The same methods on the configured corpus: where they agree with each other, and which of "
                  "them passed the planted-cue check above, tells how far to trust each." + survives),
        table_from_frame(verdicts.select("method", "verdict", "effect", "ci_low", "ci_high", "pvalue", "n"),
                         f"Verdicts on the configured corpus (results/{VERDICTS})", digits=3),
        table_from_frame(wide_curve, "Deletion curve: test accuracy after deleting the top-k share of frames "
                         "by each ranking (a faithful ranking falls fastest)", digits=3),
    ]


SECTION = SectionSpec(
    id="validation",
    title="Does the analysis find a planted cue?",
    files=files,
    parts=(("Planted-cue corpora", _planted_blocks), ("The configured corpus", _configured_blocks)),
)
