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
CONFOUNDS = layout.INTERPRET_OUTPUTS["confounds"]
AGREEMENT = layout.INTERPRET_OUTPUTS["agreement"]
TRUTH = {"vowels": "vowel", "consonants": "consonant", "none": "none"}
METHOD_ORDER = ("deletion", "attention_paired", "attention_circular_adjusted", "integrated_gradients",
                "attention_controlled")


def files(config: dict) -> dict[str, list[str]]:
    if not config["validation"].get("report"):
        return {}
    return {"validation_summary": [SUMMARY], "interpret_verdicts": [VERDICTS], "interpret_curve": [CURVE],
            "interpret_confounds": [CONFOUNDS], "interpret_agreement": [AGREEMENT],
            "validation_deletion_tests": list(cue_deletion_tests(config).values())}


def cue_deletion_tests(config: dict) -> dict[str, str]:
    """{cue: its corpus's deletion_tests.parquet, relative to the results folder}."""
    return {cue: layout.validation_outputs(cue, root="")["deletion_tests"] for cue in config["validation"]["cues"]}


def filler_table(inputs: Inputs, config: dict) -> pl.DataFrame:
    """Deletion verdict per planted cue, model and filler (all test utterances): does the filler
    choice flip a conclusion?"""
    parts = [inputs.table(path, "validation", ["model", "filler", "group_type", "verdict", "effect_size"])
             .filter(pl.col("group_type") == "all").with_columns(pl.lit(cue).alias("cue"))
             for cue, path in cue_deletion_tests(config).items()]
    return pl.concat(parts).pivot(on="filler", index=["cue", "model"], values="verdict").sort("cue", "model")


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
        table_from_frame(filler_table(inputs, config), "Deletion verdict per filler (the default is zeros, "
                         "the speaker's mean frame): the choice should not flip a conclusion"),
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
    vowel_terms = inputs.table(CONFOUNDS, "interpret", ["source", "model", "term", "estimate", "ci_low", "ci_high",
                                                         "pvalue"]).filter(pl.col("term") == "vowel")
    agreement = inputs.table(AGREEMENT, "interpret", ["mean_spearman", "mean_spearman_ci_low",
                                                      "mean_spearman_ci_high"]).row(0, named=True)
    wide_curve = curve.pivot(on="ranking", index=["model", "fraction"], values="accuracy").sort("model", "fraction")
    return [
        Paragraph("The same methods on the configured corpus: where they agree with each other, and which of "
                  "them passed the planted-cue check above, tells how far to trust each." + survives),
        table_from_frame(verdicts.select("method", "verdict", "effect", "ci_low", "ci_high", "pvalue", "n"),
                         f"Verdicts on the configured corpus (results/{VERDICTS})", digits=3),
        table_from_frame(vowel_terms.select("source", "model", "estimate", "ci_low", "ci_high", "pvalue"),
                         "Vowel coefficient of normalised attention (and IG) per frame, without and with the "
                         "acoustic controls (cluster-robust OLS, utterance clusters)", digits=3),
        Paragraph(f"Attention and IG rank the frames of an utterance alike to a mean Spearman ρ of "
                  f"{agreement['mean_spearman']:.3f} [{agreement['mean_spearman_ci_low']:.3f}, "
                  f"{agreement['mean_spearman_ci_high']:.3f}] (per utterance, averaged over seeds)."),
        table_from_frame(wide_curve, "Deletion curve: test accuracy after deleting the top-k share of frames "
                         "by each ranking (a faithful ranking falls fastest)", digits=3),
    ]


SECTION = SectionSpec(
    id="validation",
    title="Does the analysis find a planted cue?",
    files=files,
    parts=(("Planted-cue corpora", _planted_blocks), ("The configured corpus", _configured_blocks)),
)
